"""How Skylark reaches a camera's loop: queue it on a streams worker, and tell a running loop
whether to stop. The loop's Celery glue (detection/tasks.py) calls these; nothing here imports it
(`run_camera` is sent by name), so the services can use this module without an import cycle.
"""

import logging
import time

import redis
from celery.utils.nodenames import worker_direct

from config import celery_app
from config.redis import get_redis
from detection.lease import lease_owner
from detection.logfmt import kv

from .models import PIPELINE_FIELDS, Camera
from .naming import STREAMS_WORKERS_KEY, enqueue_guard_key, handover_key, lease_key

logger = logging.getLogger("skylark.cameras")

RUN_CAMERA_TASK = "detection.tasks.run_camera"
ENQUEUE_GUARD_S = 15  # a camera queued this recently is not queued again by the reconciler
# A streams worker says it is alive every HEARTBEAT_S; one silent for WORKER_ALIVE_S is gone.
# Shorter than a lease's 6 s: by the time a dead worker's cameras are free, it is out of the count.
HEARTBEAT_S = 1.0
WORKER_ALIVE_S = 5.0
HANDOVER_S = 30  # how long a loop asked to hand its camera over has to do it


def enqueue_loop(camera_id: int, *, force: bool = False) -> bool:
    """Queue the camera's loop, unless it runs or was queued moments ago, on the streams worker
    with the fewest cameras (the shared streams queue while no worker has said it is alive)."""
    client = get_redis()
    try:
        if client.exists(lease_key(camera_id)) and not force:
            return False
        loads = worker_loads(client)
        worker = min(loads, key=lambda name: (loads[name], name)) if loads else ""
        # The guard names the worker, which counts the camera as its own until the loop starts.
        guard = enqueue_guard_key(camera_id)
        if not client.set(guard, worker or "-", nx=not force, ex=ENQUEUE_GUARD_S):
            return False
        queue = worker_direct(worker) if worker else "streams"
        celery_app.send_task(RUN_CAMERA_TASK, args=[camera_id], queue=queue)
    except Exception as exc:  # broker down: the reconciler tries again in a few seconds
        logger.warning(kv(event="enqueue_failed", camera=camera_id, error=exc))
        return False
    return True


def worker_alive(client: redis.Redis, name: str) -> None:
    """A streams worker's heartbeat (detection/tasks.py sends it every HEARTBEAT_S)."""
    client.zadd(STREAMS_WORKERS_KEY, {name: time.time()})


def worker_gone(client: redis.Redis, name: str) -> None:
    client.zrem(STREAMS_WORKERS_KEY, name)


def alive_workers(client: redis.Redis) -> list[str]:
    """The streams workers that sent a heartbeat within WORKER_ALIVE_S."""
    since = time.time() - WORKER_ALIVE_S
    client.zremrangebyscore(STREAMS_WORKERS_KEY, "-inf", since)
    names = client.zrangebyscore(STREAMS_WORKERS_KEY, since, "+inf")
    return sorted(_text(name) for name in names)


def loop_owners(client: redis.Redis, camera_ids: list[int]) -> dict[int, str | None]:
    """The worker running each camera's loop (None: no loop)."""
    if not camera_ids:
        return {}
    tokens = client.mget([lease_key(pk) for pk in camera_ids])
    return {pk: lease_owner(token) for pk, token in zip(camera_ids, tokens, strict=True)}


def worker_loads(client: redis.Redis) -> dict[str, int]:
    """Cameras per alive streams worker: the loops it runs and those queued for it."""
    loads = dict.fromkeys(alive_workers(client), 0)
    if not loads:
        return loads
    camera_ids = list(Camera.objects.values_list("pk", flat=True))
    owners = loop_owners(client, camera_ids)
    guards = client.mget([enqueue_guard_key(pk) for pk in camera_ids])
    for pk, guard in zip(camera_ids, guards, strict=True):
        worker = owners[pk] or (_text(guard) if guard else None)
        if worker in loads:
            loads[worker] += 1
    return loads


def rebalance(client: redis.Redis) -> list[int]:
    """Ask loops on the busiest worker to hand their cameras over while it runs more than one
    camera more than the least busy one (a worker that joined, or came back); the cameras are
    queued on the least busy worker as their loops end. Returns the cameras asked."""
    workers = alive_workers(client)
    if len(workers) < 2:
        return []
    camera_ids = list(Camera.objects.values_list("pk", flat=True))
    running: dict[str, list[int]] = {name: [] for name in workers}
    for pk, owner in loop_owners(client, camera_ids).items():
        if owner in running:
            running[owner].append(pk)
    busiest = max(workers, key=lambda name: len(running[name]))
    idlest = min(workers, key=lambda name: len(running[name]))
    excess = (len(running[busiest]) - len(running[idlest])) // 2
    asked = []
    for pk in sorted(running[busiest], reverse=True)[:excess]:
        if client.set(handover_key(pk), idlest, nx=True, ex=HANDOVER_S):
            asked.append(pk)
    return asked


def pipeline_settings(camera: Camera) -> dict[str, object]:
    """What a loop started on `camera` now runs with: the values of its PIPELINE_FIELDS."""
    return {name: getattr(camera, name) for name in PIPELINE_FIELDS}


def loop_stop_reason(camera_id: int, running_with: dict[str, object]) -> str:
    """Why the camera's loop, running with `running_with`, should stop now; "" while it should go on.

    A change to a field outside PIPELINE_FIELDS (its location) does not stop it. Raises
    DatabaseError when PostgreSQL cannot answer: the loop decides what that means.
    """
    row = Camera.objects.filter(pk=camera_id).values("desired_state", *PIPELINE_FIELDS).first()
    if row is None:
        return "deleted"
    if row.pop("desired_state") != Camera.DesiredState.RUNNING:
        return "stopped"
    if row != running_with:
        return "reconfigured"
    try:
        if get_redis().exists(handover_key(camera_id)):
            return "handover"
    except redis.RedisError:
        pass  # Redis away: no handover is asked for meanwhile
    return ""


def _text(value: object) -> str:
    """A Redis reply as text (the client returns bytes)."""
    return value.decode() if isinstance(value, bytes) else str(value)
