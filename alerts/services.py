"""Alert actions: create (row + snapshot, then broadcast after commit) and acknowledge."""

import functools
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from audit.services import record
from cameras.models import Camera
from detection.logfmt import kv
from events.models import EventType
from events.services import emit_event

from .models import Alert
from .realtime import broadcast

if TYPE_CHECKING:
    from .serializers import AlertSerializer

logger = logging.getLogger("skylark.alerts")


@functools.cache
def _event_serializer() -> "AlertSerializer":
    """One AlertSerializer for every event: building its fields costs 0.5 ms, ten times what
    filling them does, and to_representation() keeps no state between alerts."""
    from .serializers import AlertSerializer

    return AlertSerializer()


def alert_event(alert: Alert) -> dict:
    """The `alert` event sent to dashboards: the same fields as the REST API."""
    return {"type": "alert", "alert": _event_serializer().to_representation(alert)}


def create_alert(
    *,
    camera: Camera,
    face_count: int,
    boxes: list[list[float]],
    snapshot_jpeg: bytes | None = None,
    created_at: datetime | None = None,
    person_id: int | None = None,
    similarity: float | None = None,
) -> Alert:
    """Store an alert with its snapshot; it is broadcast once the row is committed.

    `camera` is the caller's copy (the camera loop's, reloaded when the camera changes): the
    event takes its name from it, with no query. The snapshot file is written before the row
    and deleted again if the INSERT fails. Together with one serializer for all events and both group PUBLISHes in
    one round trip, this halved the CPU an alert costs (docs/benchmarks.md). The row and its
    alert.created outbox event (events.services.emit_event) share one transaction.
    """
    created_at = created_at or timezone.now()
    camera_id = camera.pk
    alert = Alert(
        camera=camera,
        face_count=face_count,
        boxes=boxes,
        created_at=created_at,
        person_id=person_id,
        similarity=similarity,
    )
    if snapshot_jpeg:
        name = f"camera{camera_id}-{created_at:%H%M%S%f}.jpg"
        alert.snapshot.save(name, ContentFile(snapshot_jpeg), save=False)
    try:
        # The row and its alert.created outbox event commit together, or neither does. No
        # savepoint inside a caller's transaction: a failure here fails that transaction anyway.
        with transaction.atomic(savepoint=False):
            alert.save()
            emit_event(EventType.ALERT_CREATED, camera=camera, data=alert_event(alert)["alert"])
    except Exception:
        # No row, so no file: a caller that retries (the loop's buffer, while PostgreSQL is
        # down) would otherwise leave one orphaned snapshot per try.
        if alert.snapshot:
            alert.snapshot.delete(save=False)
        raise
    # At once in autocommit; inside a caller's transaction, after it commits.
    transaction.on_commit(lambda: broadcast(camera_id, alert_event(alert)))
    logger.info(
        kv(
            event="alert_created",
            camera=camera_id,
            alert=alert.pk,
            faces=face_count,
            person=person_id,
        )
    )
    return alert


@transaction.atomic
def acknowledge_alert(alert: Alert, user: User) -> Alert:
    """Mark the alert seen by `user`; acknowledging twice keeps the first acknowledgement."""
    first = Alert.objects.filter(pk=alert.pk, acknowledged_at__isnull=True).update(
        acknowledged_at=timezone.now(), acknowledged_by=user
    )
    alert.refresh_from_db()
    if first:
        record("alert.acknowledge", alert)
        emit_event(
            EventType.ALERT_ACKNOWLEDGED, camera=alert.camera, data=alert_event(alert)["alert"]
        )
    return alert


@dataclass(frozen=True)
class PruneResult:
    alerts: int
    files: int


def prune_alerts(
    *, older_than_days: int, dry_run: bool = False, batch_size: int = 1000
) -> PruneResult:
    """Delete alerts older than the cutoff with their snapshot files; other files are never touched."""
    cutoff = timezone.now() - timedelta(days=older_than_days)
    expired = Alert.objects.filter(created_at__lt=cutoff)
    if dry_run:
        return PruneResult(alerts=expired.count(), files=expired.exclude(snapshot="").count())
    alerts = files = 0
    while batch := list(expired.order_by("created_at").values_list("pk", "snapshot")[:batch_size]):
        # Each alert's snapshot file is deleted with its row (alerts.apps), after the commit.
        with transaction.atomic():
            Alert.objects.filter(pk__in=[pk for pk, _ in batch]).delete()
        alerts += len(batch)
        files += sum(1 for _, name in batch if name)
    logger.info(kv(event="alerts_pruned", days=older_than_days, alerts=alerts, files=files))
    return PruneResult(alerts=alerts, files=files)
