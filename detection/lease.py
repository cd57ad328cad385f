"""A Redis lease that lets exactly one loop own a camera: SET NX PX, renewed and released by token.

The lease is renewed by a LeaseKeeper thread, not by the loop it protects: a loop held up for
a while (a status write waiting on a row lock, a starved machine) keeps its camera, while a loop
that has shown no life for `owner_silence_s` lets the lease lapse so another worker can take over.
"""

import logging
import threading
import time
import uuid

import redis

from .logfmt import kv

log = logging.getLogger("skylark.detection")

# Renew only if the lease is still ours. A lease that is gone (Redis restarted empty, or it lapsed
# and nobody took it) is simply taken again; one another loop holds is refused.
_RENEW = """
local holder = redis.call('get', KEYS[1])
if holder == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
if not holder then return redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2]) and 1 or 0 end
return 0
"""
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"


class Lease:
    """`owner` (the worker's name) leads the token, so others can tell who holds the lease."""

    def __init__(
        self, client: redis.Redis, key: str, ttl_ms: int = 10_000, owner: str = ""
    ) -> None:
        self.client = client
        self.key = key
        self.ttl_ms = ttl_ms
        self.token = f"{owner}/{uuid.uuid4().hex}"

    def acquire(self) -> bool:
        return bool(self.client.set(self.key, self.token, nx=True, px=self.ttl_ms))

    def renew(self) -> bool:
        """True while we hold the lease (taking it again if it is gone); False once another has it."""
        return bool(self.client.eval(_RENEW, 1, self.key, self.token, self.ttl_ms))

    def release(self) -> None:
        self.client.eval(_RELEASE, 1, self.key, self.token)


class LeaseKeeper:
    """Renews a lease every `every_s` on its own thread while its owner calls alive() often enough.

    `lost` becomes true once another holder has the lease; the owner must then stop and write
    nothing more about what it owned.
    """

    def __init__(self, lease: Lease, every_s: float = 1.0, owner_silence_s: float = 30.0) -> None:
        self.lease = lease
        self._every_s = every_s
        self._owner_silence_s = owner_silence_s
        self._alive_at = time.monotonic()
        self._lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lease-keeper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def alive(self) -> None:
        self._alive_at = time.monotonic()

    @property
    def lost(self) -> bool:
        return self._lost.is_set()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self._every_s):
            silent_for = time.monotonic() - self._alive_at
            if silent_for > self._owner_silence_s:
                continue  # the owner is hung: let the lease lapse so another loop can take over
            try:
                if not self.lease.renew():
                    self._lost.set()
                    return
            except redis.RedisError as exc:
                # Redis away: keep trying; if it comes back empty the lease is taken again.
                log.debug(kv(event="lease_renew_failed", key=self.lease.key, error=exc))


def lease_owner(token: bytes | str | None) -> str | None:
    """The owner named in a lease's token; None for no lease."""
    if token is None:
        return None
    text = token.decode() if isinstance(token, bytes) else token
    return text.rpartition("/")[0]
