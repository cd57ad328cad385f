"""The camera's rules: add, edit and delete it, start and stop its loop, keep loops in line with
what operators asked for, and record what loops report. Every entry point (API, admin, dashboard,
CLI, the loop and its reconciler) calls these.
"""

import logging
from datetime import datetime

import redis
from django.db import DatabaseError, transaction

from alerts.realtime import broadcast
from audit.services import changed, created, deleted, record, snapshot
from config.redis import get_redis
from detection.logfmt import kv
from events.services import note_camera_status

from . import streams
from .models import EDITABLE_FIELDS, PIPELINE_FIELDS, Camera
from .naming import handover_key, lease_key

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


def _check_editable(fields: dict[str, object]) -> None:
    not_editable = sorted(set(fields) - set(EDITABLE_FIELDS))
    if not_editable:
        raise TypeError(f"not an editable camera field: {', '.join(not_editable)}")
    if "regions" in fields and fields["regions"] is None:
        fields["regions"] = []  # a form's emptied JSON box: no zones or masks


@transaction.atomic
def create_camera(**fields: object) -> Camera:
    """Add a camera (stopped) from the operator's fields; raises ValidationError on bad values."""
    _check_editable(fields)
    camera = Camera(**fields)
    camera.full_clean()
    camera.save()
    record("camera.create", camera, created(snapshot(camera, EDITABLE_FIELDS)))
    logger.info(kv(event="camera_created", camera=camera.pk))
    return camera


@transaction.atomic
def update_camera(camera: Camera, **changes: object) -> Camera:
    """Change operator fields and save only those, so the status the loop writes meanwhile stays.

    A running loop restarts with the new settings only when a PIPELINE_FIELDS value changed: it
    compares what it runs with against the row (cameras.streams.loop_stop_reason).
    """
    _check_editable(changes)
    row = Camera.objects.select_for_update().get(pk=camera.pk)
    names = [name for name, value in changes.items() if getattr(row, name) != value]
    if not names:
        return row
    before = snapshot(row, names)
    for name in names:
        setattr(row, name, changes[name])
    row.full_clean()
    row.save(update_fields=[*names, "updated_at"])
    record("camera.update", row, changed(before, snapshot(row, names)))
    restarts = row.is_running and any(name in PIPELINE_FIELDS for name in names)
    logger.info(
        kv(
            event="camera_updated",
            camera=row.pk,
            changed=names,
            loop_restarts="yes" if restarts else "no",
        )
    )
    return row


@transaction.atomic
def delete_camera(camera: Camera) -> None:
    """Delete the camera and its alerts; its loop sees the row gone within a second and exits."""
    camera_id = camera.pk
    record("camera.delete", camera, deleted(snapshot(camera, EDITABLE_FIELDS)))
    camera.delete()
    logger.info(kv(event="camera_deleted", camera=camera_id))


@transaction.atomic
def start_stream(camera: Camera) -> Camera:
    """Ask for the camera's loop to run; the reconciler (or the enqueue below) starts it."""
    Camera.objects.filter(pk=camera.pk).update(desired_state=Camera.DesiredState.RUNNING)
    Camera.objects.filter(pk=camera.pk, status=Camera.Status.STOPPED).update(
        status=Camera.Status.CONNECTING, last_error=""
    )
    camera.refresh_from_db()
    record("camera.start", camera)
    logger.info(kv(event="stream_start", camera=camera.pk))
    _broadcast_status_on_commit(camera.pk)
    # Now rather than at the next reconcile tick; after the commit, so the loop sees `running`.
    transaction.on_commit(lambda: streams.enqueue_loop(camera.pk))
    return camera


@transaction.atomic
def stop_stream(camera: Camera) -> Camera:
    """Ask for the camera's loop to stop; the loop sees it within a second and reports stopped."""
    Camera.objects.filter(pk=camera.pk).update(desired_state=Camera.DesiredState.STOPPED)
    camera.refresh_from_db()
    record("camera.stop", camera)
    logger.info(kv(event="stream_stop", camera=camera.pk))
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
            note_camera_status(camera_id, status)
            _broadcast_status_on_commit(camera_id)
    return bool(updated)


def reconcile_streams() -> dict[str, list[int]]:
    """Start the loops that should run and have none; mark stopped the cameras whose loop is gone.

    Beat runs this every few seconds: it logs one line when it changed something, nothing otherwise.
    """
    started, marked_stopped = [], []
    client = get_redis()
    for camera_id, desired, status in Camera.objects.values_list("pk", "desired_state", "status"):
        has_lease = bool(client.exists(lease_key(camera_id)))
        if desired == Camera.DesiredState.RUNNING and not has_lease:
            if streams.enqueue_loop(camera_id):
                started.append(camera_id)
        elif (
            desired == Camera.DesiredState.STOPPED
            and not has_lease
            and status != Camera.Status.STOPPED
        ):
            record_status(camera_id, status=Camera.Status.STOPPED)
            marked_stopped.append(camera_id)
    handed_over = streams.rebalance(client)
    if started or marked_stopped or handed_over:
        more = {"handover": handed_over} if handed_over else {}
        logger.info(kv(event="reconcile", started=started, marked_stopped=marked_stopped, **more))
    return {"started": started, "marked_stopped": marked_stopped, "handover": handed_over}


def loop_ended(camera_id: int, reason: str) -> None:
    """After a loop: record stopped, or hand a reconfigured camera straight to a new loop."""
    try:
        if reason == "reconfigured":
            streams.enqueue_loop(camera_id, force=True)
        elif reason == "handover":
            # Asked to make room: queued at once on the least busy worker (not this one).
            get_redis().delete(handover_key(camera_id))
            streams.enqueue_loop(camera_id, force=True)
        elif reason == "worker shutdown":
            # Still wanted: another worker (or this one restarted) picks it up via the reconciler.
            record_status(
                camera_id,
                status=Camera.Status.OFFLINE,
                last_error="worker stopped; waiting for a worker",
            )
        elif reason in ("stopped", ""):
            still_running = Camera.objects.filter(
                pk=camera_id, desired_state=Camera.DesiredState.RUNNING
            ).exists()
            if not still_running:
                record_status(camera_id, status=Camera.Status.STOPPED)
    except (DatabaseError, redis.RedisError) as exc:
        logger.warning(kv(event="loop_finish_failed", camera=camera_id, error=exc))
