"""How Skylark reaches a camera's loop: queue it on a streams worker, and tell a running loop
whether to stop. The loop's Celery glue (detection/tasks.py) calls these; nothing here imports it
(`run_camera` is sent by name), so the services can use this module without an import cycle.
"""

import logging

from config import celery_app
from config.redis import get_redis
from detection.logfmt import kv

from .models import PIPELINE_FIELDS, Camera
from .naming import enqueue_guard_key, lease_key

logger = logging.getLogger("skylark.cameras")

RUN_CAMERA_TASK = "detection.tasks.run_camera"
ENQUEUE_GUARD_S = 15  # a camera queued this recently is not queued again by the reconciler


def enqueue_loop(camera_id: int, *, force: bool = False) -> bool:
    """Queue the camera's loop on the streams queue unless it runs or was queued moments ago."""
    client = get_redis()
    try:
        if client.exists(lease_key(camera_id)) and not force:
            return False
        queued = client.set(enqueue_guard_key(camera_id), "1", nx=True, ex=ENQUEUE_GUARD_S)
        if not queued and not force:
            return False
        celery_app.send_task(RUN_CAMERA_TASK, args=[camera_id], queue="streams")
    except Exception as exc:  # broker down: the reconciler tries again in a few seconds
        logger.warning(kv(event="enqueue_failed", camera=camera_id, error=exc))
        return False
    return True


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
    return ""
