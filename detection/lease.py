"""A Redis lease that lets exactly one loop own a camera: SET NX PX, renewed and released by token."""

import uuid

import redis

# Renew and release only if the lease is still ours: another loop may have taken it after expiry.
_RENEW = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end"
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"


class Lease:
    def __init__(self, client: redis.Redis, key: str, ttl_ms: int = 10_000) -> None:
        self.client = client
        self.key = key
        self.ttl_ms = ttl_ms
        self.token = uuid.uuid4().hex

    def acquire(self) -> bool:
        return bool(self.client.set(self.key, self.token, nx=True, px=self.ttl_ms))

    def renew(self) -> bool:
        """True while we still hold the lease; False once it was lost (expired and taken)."""
        return bool(self.client.eval(_RENEW, 1, self.key, self.token, self.ttl_ms))

    def release(self) -> None:
        self.client.eval(_RELEASE, 1, self.key, self.token)

    def holder_exists(self) -> bool:
        return bool(self.client.exists(self.key))
