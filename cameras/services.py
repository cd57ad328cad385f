"""Stream control and status reporting: every entry point (API, admin, dashboard, CLI, loop) calls these."""

import logging
from datetime import datetime

from django.db import transaction

from alerts.realtime import broadcast

from .models import Camera

logger = logging.getLogger("skylark.cameras")


def status_event(camera: Camera) -> dict:
    """The `camera.status` event sent to dashboards (the shape is documented in the README)."""
    return {
        "type": "camera.status",
        "camera": {
            "id": camera.pk,
            "desired_state": camera.desired_state,
            "status": camera.status,
            "last_error": camera.last_error,
            "fps_in": round(camera.fps_in, 1),
            "fps_out": round(camera.fps_out, 1),
            "frames_dropped": camera.frames_dropped,
            "last_frame_at": camera.last_frame_at.isoformat() if camera.last_frame_at else None,
        },
    }


def _broadcast_status_on_commit(camera_id: int) -> None:
    def send() -> None:
        camera = Camera.objects.filter(pk=camera_id).first()
        if camera is not None:
            broadcast(camera_id, status_event(camera))

    transaction.on_commit(send)


@transaction.atomic
def start_stream(camera: Camera) -> Camera:
    """Ask for the camera's loop to run; the reconciler (or the enqueue below) starts it."""
    Camera.objects.filter(pk=camera.pk).update(desired_state=Camera.DesiredState.RUNNING)
    Camera.objects.filter(pk=camera.pk, status=Camera.Status.STOPPED).update(
        status=Camera.Status.CONNECTING, last_error=""
    )
    camera.refresh_from_db()
    logger.info("event=stream_start camera=%s", camera.pk)
    _broadcast_status_on_commit(camera.pk)
    transaction.on_commit(lambda: _enqueue_loop(camera.pk))
    return camera


@transaction.atomic
def stop_stream(camera: Camera) -> Camera:
    """Ask for the camera's loop to stop; the loop sees it within a second and reports stopped."""
    Camera.objects.filter(pk=camera.pk).update(desired_state=Camera.DesiredState.STOPPED)
    camera.refresh_from_db()
    logger.info("event=stream_stop camera=%s", camera.pk)
    _broadcast_status_on_commit(camera.pk)
    return camera


def record_status(
    camera_id: int,
    *,
    status: str,
    last_error: str = "",
    fps_in: float = 0.0,
    fps_out: float = 0.0,
    frames_dropped: int = 0,
    last_frame_at: datetime | None = None,
) -> bool:
    """Store what the loop reports and broadcast it; False if the camera no longer exists."""
    fields = {
        "status": status,
        "last_error": last_error[:500],
        "fps_in": fps_in,
        "fps_out": fps_out,
        "frames_dropped": frames_dropped,
    }
    if last_frame_at is not None:
        fields["last_frame_at"] = last_frame_at
    with transaction.atomic():
        updated = Camera.objects.filter(pk=camera_id).update(**fields)
        if updated:
            _broadcast_status_on_commit(camera_id)
    return bool(updated)


def _enqueue_loop(camera_id: int) -> None:
    """Hand the loop to a streams worker now rather than at the next reconcile tick."""
    from detection.tasks import enqueue_camera_loop  # the Celery glue imports this module

    enqueue_camera_loop(camera_id)
