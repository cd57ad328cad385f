"""Events out: write an event and its outbox rows inside the caller's transaction (emit_event),
deliver them in order with retries to webhook endpoints (deliver_pending) and the MQTT broker
(deliver_mqtt_pending), manage endpoints, and turn camera status into one camera.offline /
camera.online per outage."""

import logging
import random
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import redis
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from alerts.realtime import broadcast
from audit.services import MASK, changed, created, deleted, record, snapshot
from cameras.models import Camera
from cameras.naming import lease_key
from config.redis import get_redis
from detection.logfmt import kv

from . import mqtt
from .models import CameraAvailability, Delivery, Event, EventType, WebhookEndpoint
from .webhooks import Attempt, WebhookSender

logger = logging.getLogger("skylark.events")

# The fields operators set; `secret` is masked in the audit log (audit.services.masked).
WEBHOOK_FIELDS = ("name", "url", "secret", "events", "enabled")
# pg_try_advisory_lock(class, endpoint id, or 0 for MQTT): one deliverer per destination keeps
# its order.
_LOCK_CLASS = 0x5E7E
_MQTT_LOCK_ID = 0


# -- writing events -----------------------------------------------------------------------------


def _wants(endpoint: WebhookEndpoint, event: Event) -> bool:
    if endpoint.events and event.type not in endpoint.events:
        return False
    cameras = {c.pk for c in endpoint.cameras.all()}
    return not cameras or event.camera_id in cameras


def emit_event(type: str, *, camera: Camera | None, data: dict[str, Any]) -> Event:
    """Store an event and one pending delivery per endpoint that wants it. Call it inside the
    transaction of what caused the event: both commit, or neither. Delivery starts after commit."""
    if not connection.in_atomic_block:
        raise RuntimeError("emit_event must run inside the transaction of what caused the event")
    event = Event.objects.create(type=type, camera=camera, data=data)
    endpoints = WebhookEndpoint.objects.filter(enabled=True).prefetch_related("cameras")
    wanted = [endpoint.pk for endpoint in endpoints if _wants(endpoint, event)]
    to_mqtt = mqtt.enabled() and type in mqtt.MQTT_EVENTS
    Delivery.objects.bulk_create(
        [Delivery(event=event, endpoint_id=pk, created_at=event.created_at) for pk in wanted]
        + (
            [Delivery(event=event, target=Delivery.Target.MQTT, created_at=event.created_at)]
            if to_mqtt
            else []
        )
    )
    if wanted or to_mqtt:
        transaction.on_commit(lambda: _enqueue(wanted, to_mqtt=to_mqtt))
    return event


def queued_key(destination: str) -> str:
    """Redis key that exists while a delivery task for `destination` ("webhook:3", "mqtt") is
    queued and not yet started: at 500 alerts/s, one queued task per destination, not 500."""
    return f"skylark:outbox:queued:{destination}"


# A queued task that never starts (its worker died) stops holding back new ones after this;
# the sweep re-queues its deliveries meanwhile.
QUEUED_TTL_S = 60


def _enqueue(endpoint_ids: list[int], *, to_mqtt: bool = False, force: bool = False) -> None:
    """Ask workers to deliver now, unless a task for that destination is already waiting to
    start (it will see these rows too). If the broker is down the rows wait for the sweep."""
    from .tasks import deliver_mqtt, deliver_webhooks

    calls: list[tuple[Any, tuple[int, ...], str]] = [
        (deliver_webhooks, (endpoint_id,), f"webhook:{endpoint_id}") for endpoint_id in endpoint_ids
    ]
    if to_mqtt:
        calls.append((deliver_mqtt, (), "mqtt"))
    for task, args, destination in calls:
        try:
            fresh = get_redis().set(queued_key(destination), 1, nx=True, ex=QUEUED_TTL_S)
            if fresh or force:
                task.delay(*args)
        except Exception as exc:  # noqa: BLE001 - any broker failure: the sweep re-queues
            logger.warning(kv(event="delivery_enqueue_failed", task=task.name, error=exc))


def task_started(destination: str) -> None:
    """A delivery task starts: rows committed from now on need a task of their own."""
    try:
        get_redis().delete(queued_key(destination))
    except redis.RedisError as exc:  # the key expires by itself
        logger.warning(kv(event="outbox_flag_failed", destination=destination, error=exc))


def camera_summary(camera: Camera) -> dict[str, Any]:
    """The camera as events show it: never its URL (it may hold a password)."""
    return {"id": camera.pk, "name": camera.name, "location": camera.location}


def payload(event: Event) -> dict[str, Any]:
    """The JSON body every destination gets for `event` (its shape is in the README)."""
    return {
        "id": str(event.event_id),
        "type": event.type,
        "created_at": event.created_at.isoformat(),
        "camera": event.camera_id,
        "data": event.data,
    }


# -- delivering ---------------------------------------------------------------------------------


def backoff_s(attempts: int) -> float:
    """Exponential backoff with jitter: base·2^(n-1), at most the maximum, times 0.5–1."""
    ceiling = min(
        settings.WEBHOOK_BACKOFF_MAX_S, settings.WEBHOOK_BACKOFF_BASE_S * 2 ** (attempts - 1)
    )
    return ceiling * random.uniform(0.5, 1.0)


@contextmanager
def _outbox_lock(lock_id: int) -> Iterator[bool]:
    """A session advisory lock per destination: PostgreSQL frees it by itself if the worker dies."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [_LOCK_CLASS, lock_id])
        held = bool(cursor.fetchone()[0])
    try:
        yield held
    finally:
        if held:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [_LOCK_CLASS, lock_id])


_ATTEMPT_FIELDS = [
    "attempts",
    "last_attempt_at",
    "response_code",
    "latency_ms",
    "last_error",
    "status",
    "delivered_at",
    "next_attempt_at",
]


def _record_successes(
    endpoint: WebhookEndpoint | None, sent: list[tuple[Delivery, Attempt]]
) -> None:
    """Mark a run of delivered rows in one UPDATE. A worker that dies before it sends them
    again later: at least once, with the same event id."""
    if not sent:
        return
    now = timezone.now()
    for delivery, attempt in sent:
        delivery.attempts += 1
        delivery.last_attempt_at = delivery.delivered_at = now
        delivery.response_code = attempt.response_code
        delivery.latency_ms = attempt.latency_ms
        delivery.last_error = ""
        delivery.status = Delivery.Status.DELIVERED
    Delivery.objects.bulk_update([d for d, _ in sent], _ATTEMPT_FIELDS)
    if endpoint is not None and endpoint.failing_since is not None:
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(failing_since=None)
        endpoint.failing_since = None
    logger.info(
        kv(
            event="deliveries_sent",
            target=sent[0][0].target,
            endpoint=endpoint.pk if endpoint is not None else "",
            count=len(sent),
            last_event_id=sent[-1][0].event.event_id,
        )
    )


def _record_failure(endpoint: WebhookEndpoint | None, delivery: Delivery, attempt: Attempt) -> None:
    """A failed attempt: retry later with backoff, or give up after WEBHOOK_RETRY_FOR_S; an
    endpoint failing that long is disabled, saying why."""
    now = timezone.now()
    delivery.attempts += 1
    delivery.last_attempt_at = now
    delivery.response_code = attempt.response_code
    delivery.latency_ms = attempt.latency_ms
    delivery.last_error = attempt.error
    retry_for = timedelta(seconds=settings.WEBHOOK_RETRY_FOR_S)
    if now - delivery.created_at >= retry_for:
        delivery.status = Delivery.Status.FAILED
    else:
        delivery.next_attempt_at = now + timedelta(seconds=backoff_s(delivery.attempts))
    if endpoint is None:
        pass  # MQTT: the broker is configured, not managed; nothing to disable
    elif endpoint.failing_since is None:
        endpoint.failing_since = now
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(failing_since=now)
    elif now - endpoint.failing_since >= retry_for:
        reason = (
            f"disabled at {now:%Y-%m-%d %H:%M} UTC: every delivery failed since "
            f"{endpoint.failing_since:%Y-%m-%d %H:%M} UTC (last: {attempt.error})"
        )[:300]
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(enabled=False, disabled_reason=reason)
        endpoint.enabled = False
        logger.warning(kv(event="webhook_disabled", endpoint=endpoint.pk))
    delivery.save(update_fields=_ATTEMPT_FIELDS)
    logger.info(
        kv(
            event="delivery_attempt",
            target=delivery.target,
            endpoint=endpoint.pk if endpoint is not None else "",
            delivery=delivery.pk,
            event_id=delivery.event.event_id,
            type=delivery.event.type,
            status=delivery.status,
            code=attempt.response_code or "",
            ms=attempt.latency_ms,
            error=attempt.error,
        )
    )


def _pending(target: str, endpoint_id: int | None, limit: int) -> list[Delivery]:
    """The oldest pending deliveries of one destination: the head of its line."""
    return list(
        Delivery.objects.filter(
            target=target, endpoint_id=endpoint_id, status=Delivery.Status.PENDING
        )
        .select_related("event")
        .order_by("id")[:limit]
    )


@dataclass(frozen=True)
class DeliveryRun:
    delivered: int = 0
    failed_attempts: int = 0
    busy: bool = False  # another worker holds this destination
    retry_in_s: float | None = None  # this run failed the head of the line: retry it then


# Pending rows read per query while delivering.
BATCH = 100
Line = Callable[[int], tuple[WebhookEndpoint | None, list[Delivery]]]
Send = Callable[[WebhookEndpoint | None, Delivery], Attempt]


def _deliver_in_order(lock_id: int, line: Line, send: Send) -> DeliveryRun:
    """Send a destination's pending deliveries oldest first, one worker at a time. The first
    that fails stops the run (the ones after it wait: order per destination), to be retried at
    its next_attempt_at; one given up on lets the next go. `line(n)` gives the destination (a
    webhook endpoint, None for MQTT) and its first n pending deliveries."""
    delivered = failed = 0
    while True:
        with _outbox_lock(lock_id) as held:
            if not held:
                return DeliveryRun(delivered, failed, busy=True)
            waiting = False
            while not waiting:
                endpoint, batch = line(BATCH)
                if not batch:
                    break
                sent: list[tuple[Delivery, Attempt]] = []
                for delivery in batch:
                    if delivery.next_attempt_at > timezone.now():
                        # Its retry was scheduled by the run that failed it (the sweep backs it up).
                        waiting = True
                        break
                    attempt = send(endpoint, delivery)
                    if attempt.ok:
                        sent.append((delivery, attempt))
                        continue
                    _record_successes(endpoint, sent)
                    delivered += len(sent)
                    sent = []
                    _record_failure(endpoint, delivery, attempt)
                    if delivery.status == Delivery.Status.PENDING:
                        wait = (delivery.next_attempt_at - timezone.now()).total_seconds()
                        return DeliveryRun(delivered, failed + 1, retry_in_s=wait)
                    failed += 1
                _record_successes(endpoint, sent)
                delivered += len(sent)
        # A delivery committed after our last look, whose own task found the lock taken and
        # left, would otherwise wait for the sweep: look once more now that the lock is free.
        _, head = line(1)
        if not head or head[0].next_attempt_at > timezone.now():
            return DeliveryRun(delivered, failed)


def deliver_pending(endpoint_id: int) -> DeliveryRun:
    """Deliver a webhook endpoint's pending events, in order (nothing while it is disabled)."""
    sender: WebhookSender | None = None

    def line(limit: int) -> tuple[WebhookEndpoint | None, list[Delivery]]:
        endpoint = WebhookEndpoint.objects.filter(pk=endpoint_id, enabled=True).first()
        if endpoint is None:
            return None, []
        return endpoint, _pending(Delivery.Target.WEBHOOK, endpoint_id, limit)

    def send(endpoint: WebhookEndpoint | None, delivery: Delivery) -> Attempt:
        nonlocal sender
        assert endpoint is not None
        current = sender.endpoint if sender is not None else None
        if sender is None or (
            current is not None and (current.url, current.secret) != (endpoint.url, endpoint.secret)
        ):
            if sender is not None:
                sender.close()
            sender = WebhookSender(endpoint)
        return sender.send(delivery, payload(delivery.event))

    try:
        return _deliver_in_order(endpoint_id, line, send)
    finally:
        if sender is not None:
            sender.close()


def deliver_mqtt_pending() -> DeliveryRun:
    """Publish the pending MQTT deliveries, in order, over one broker connection."""

    def line(limit: int) -> tuple[WebhookEndpoint | None, list[Delivery]]:
        return None, _pending(Delivery.Target.MQTT, None, limit)

    with mqtt.Publisher() as publisher:

        def send(endpoint: WebhookEndpoint | None, delivery: Delivery) -> Attempt:
            started = time.monotonic()
            try:
                publisher.publish(mqtt.event_messages(delivery.event, payload(delivery.event)))
            except mqtt.PublishError as exc:
                elapsed = int((time.monotonic() - started) * 1000)
                return Attempt(False, None, elapsed, str(exc)[:300])
            return Attempt(True, None, int((time.monotonic() - started) * 1000), "")

        return _deliver_in_order(_MQTT_LOCK_ID, line, send)


def sweep_outbox(now: datetime | None = None) -> list[int]:
    """Re-queue every destination with due deliveries: what a lost task, a dead worker or a
    Redis restart left behind is sent from here. Duplicate tasks are harmless (the lock).
    Returns the webhook endpoints re-queued."""
    due = Delivery.objects.filter(
        status=Delivery.Status.PENDING, next_attempt_at__lte=now or timezone.now()
    )
    endpoints = sorted(
        set(
            due.filter(target=Delivery.Target.WEBHOOK, endpoint__enabled=True).values_list(
                "endpoint_id", flat=True
            )
        )
    )
    to_mqtt = due.filter(target=Delivery.Target.MQTT).exists()
    if endpoints or to_mqtt:
        _enqueue([pk for pk in endpoints if pk is not None], to_mqtt=to_mqtt, force=True)
    return [pk for pk in endpoints if pk is not None]


def prune_events(*, older_than_days: float) -> int:
    """Delete events (with their deliveries) older than the retention, except those still on
    their way somewhere; how many went."""
    cutoff = timezone.now() - timedelta(days=older_than_days)
    pending = Delivery.objects.filter(status=Delivery.Status.PENDING).values("event_id")
    deleted, _ = Event.objects.filter(created_at__lt=cutoff).exclude(pk__in=pending).delete()
    if deleted:
        logger.info(kv(event="events_pruned", rows=deleted, older_than_days=older_than_days))
    return deleted


# -- endpoints ----------------------------------------------------------------------------------


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


@transaction.atomic
def create_webhook(
    *, name: str, url: str, secret: str = "", events: list[str] | None = None,
    cameras: list[Camera] | None = None, enabled: bool = True,
) -> WebhookEndpoint:  # fmt: skip
    """Add an endpoint; without a secret one is generated (shown once, by the caller)."""
    endpoint = WebhookEndpoint(
        name=name, url=url, secret=secret or new_secret(), events=events or [], enabled=enabled
    )
    endpoint.full_clean()
    endpoint.save()
    if cameras:
        endpoint.cameras.set(cameras)
    record("webhook.create", endpoint, created(snapshot(endpoint, WEBHOOK_FIELDS)))
    logger.info(kv(event="webhook_created", endpoint=endpoint.pk))
    return endpoint


@transaction.atomic
def update_webhook(
    endpoint: WebhookEndpoint, *, cameras: list[Camera] | None = None, **changes: Any
) -> WebhookEndpoint:
    """Change an endpoint. Re-enabling it clears why it was disabled and resumes its deliveries;
    an empty secret keeps the current one."""
    if not changes.get("secret", True):
        changes.pop("secret")
    row = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    before = snapshot(row, WEBHOOK_FIELDS)
    cameras_before = sorted(row.cameras.values_list("pk", flat=True))
    new_secret = "secret" in changes and changes["secret"] != row.secret
    if changes.get("enabled") and not row.enabled:
        row.disabled_reason = ""
        row.failing_since = None
    for name, value in changes.items():
        setattr(row, name, value)
    row.full_clean()
    row.save()
    diff = changed(before, snapshot(row, WEBHOOK_FIELDS))
    if cameras is not None:
        row.cameras.set(cameras)
        cameras_after = sorted(camera.pk for camera in cameras)
        if cameras_after != cameras_before:
            diff["cameras"] = [cameras_before, cameras_after]
    if new_secret:  # masked, both sides look alike: the log still says it was replaced
        diff["secret"] = [MASK, f"{MASK} (replaced)"]
    if diff:
        record("webhook.update", row, diff)
    if row.enabled:
        transaction.on_commit(lambda: _enqueue([row.pk]))
    logger.info(kv(event="webhook_updated", endpoint=row.pk, changed=sorted(diff)))
    return row


@transaction.atomic
def delete_webhook(endpoint: WebhookEndpoint) -> None:
    record("webhook.delete", endpoint, deleted(snapshot(endpoint, WEBHOOK_FIELDS)))
    endpoint_id = endpoint.pk
    endpoint.delete()
    logger.info(kv(event="webhook_deleted", endpoint=endpoint_id))


@transaction.atomic
def send_test_event(endpoint: WebhookEndpoint) -> Event:
    """A `webhook.test` event for this endpoint only, through the same outbox as real ones."""
    event = Event.objects.create(
        type=EventType.WEBHOOK_TEST, data={"message": f"Test event for {endpoint.name}"}
    )
    Delivery.objects.create(event=event, endpoint=endpoint, created_at=event.created_at)
    record("webhook.test", endpoint)
    transaction.on_commit(lambda: _enqueue([endpoint.pk]))
    return event


# -- camera availability ------------------------------------------------------------------------

_DOWN_STATUSES = (Camera.Status.OFFLINE, Camera.Status.ERROR, Camera.Status.CONNECTING)


def _camera_event_data(
    camera: Camera, down_since: datetime | None, now: datetime | None = None
) -> dict[str, Any]:
    now = now or timezone.now()
    seconds = (now - down_since).total_seconds() if down_since else None
    return {
        "camera": camera_summary(camera),
        "status": camera.status,
        "last_error": camera.last_error,
        "down_since": down_since.isoformat() if down_since else None,
        "down_for_s": round(seconds, 1) if seconds is not None else None,
    }


def outage_message(event: Event) -> dict[str, Any]:
    """The live feed's `camera.offline` / `camera.online` message (README, "WebSocket")."""
    data = event.data
    return {
        "type": event.type,
        "outage": {
            "event_id": str(event.event_id),
            "camera": event.camera_id,
            "camera_name": data["camera"]["name"],
            "at": event.created_at.isoformat(),
            "down_since": data["down_since"],
            "last_error": data["last_error"],
        },
    }


def _announce(type: str, camera: Camera, data: dict[str, Any]) -> Event:
    """A camera.offline / camera.online event: to the outbox, and to the dashboards once it
    has committed, so operators see a camera went dark (or came back) in the live feed."""
    event = emit_event(type, camera=camera, data=data)
    camera_id = camera.pk
    transaction.on_commit(lambda: broadcast(camera_id, outage_message(event)))
    return event


def note_camera_status(camera_id: int, status: str) -> None:
    """Called in the transaction that stores a camera's reported status. Online after an outage
    that was announced: `camera.online`. Down: remember since when (the first report counts)."""
    if status == Camera.Status.ONLINE:
        row = (
            CameraAvailability.objects.select_for_update()
            .filter(Q(down_since__isnull=False) | Q(reported_offline=True), camera_id=camera_id)
            .first()
        )
        if row is None:
            return
        if row.reported_offline:
            camera = Camera.objects.get(pk=camera_id)
            _announce(EventType.CAMERA_ONLINE, camera, _camera_event_data(camera, row.down_since))
            logger.info(kv(event="camera_back_online", camera=camera_id))
        row.down_since = None
        row.reported_offline = False
        row.save()
    elif status in _DOWN_STATUSES:
        row, _ = CameraAvailability.objects.get_or_create(camera_id=camera_id)
        if row.down_since is None:
            row.down_since = timezone.now()
            row.save(update_fields=["down_since"])
    elif status == Camera.Status.STOPPED:
        # Stopped on purpose is no outage; an announced one ends with the next `online`.
        CameraAvailability.objects.filter(camera_id=camera_id).update(down_since=None)


def _loopless(camera_ids: list[int]) -> set[int]:
    """Of these cameras, those no detection loop holds (no lease): a dead streams worker leaves
    its cameras `online` in the database, and only the missing lease tells."""
    if not camera_ids:
        return set()
    try:
        pipe = get_redis().pipeline(transaction=False)
        for camera_id in camera_ids:
            pipe.exists(lease_key(camera_id))
        held = pipe.execute()
    except redis.RedisError as exc:  # without Redis nobody can tell: only reported status counts
        logger.warning(kv(event="availability_lease_check_failed", error=exc))
        return set()
    return {camera_id for camera_id, exists in zip(camera_ids, held, strict=True) if not exists}


def check_camera_availability(now: datetime | None = None) -> list[int]:
    """Beat: a running camera not online for CAMERA_OFFLINE_AFTER_S gets one `camera.offline`;
    so does one that says online but that no loop has run that long. Returns the cameras
    announced now."""
    now = now or timezone.now()
    running = Camera.objects.filter(desired_state=Camera.DesiredState.RUNNING)
    loopless = _loopless(
        list(running.filter(status=Camera.Status.ONLINE).values_list("pk", flat=True))
    )
    down = running.filter(~Q(status=Camera.Status.ONLINE) | Q(pk__in=loopless))
    # Cameras that went down without a report through record_status (start_stream sets
    # `connecting` directly; a dead loop reports nothing) are counted from now.
    known = set(
        CameraAvailability.objects.filter(camera__in=down, down_since__isnull=False).values_list(
            "camera_id", flat=True
        )
    )
    for camera_id in down.exclude(pk__in=known).values_list("pk", flat=True):
        CameraAvailability.objects.get_or_create(camera_id=camera_id)
        CameraAvailability.objects.filter(camera_id=camera_id, down_since__isnull=True).update(
            down_since=now
        )
    cutoff = now - timedelta(seconds=settings.CAMERA_OFFLINE_AFTER_S)
    announced = []
    candidates = CameraAvailability.objects.filter(
        camera__in=down, down_since__lte=cutoff, reported_offline=False
    ).values_list("camera_id", flat=True)
    for camera_id in candidates:
        with transaction.atomic():
            row = (
                CameraAvailability.objects.select_for_update(skip_locked=True)
                .filter(camera_id=camera_id, reported_offline=False, down_since__lte=cutoff)
                .first()
            )
            camera = Camera.objects.filter(pk=camera_id).first()
            if row is None or camera is None:
                continue
            if camera.status == Camera.Status.ONLINE:
                if not _loopless([camera_id]):
                    continue  # came back meanwhile
                camera.status = Camera.Status.OFFLINE
                camera.last_error = "no detection loop is running it (is a streams worker up?)"
            _announce(
                EventType.CAMERA_OFFLINE, camera, _camera_event_data(camera, row.down_since, now)
            )
            row.reported_offline = True
            row.save(update_fields=["reported_offline"])
            announced.append(camera_id)
            logger.info(kv(event="camera_offline_announced", camera=camera_id))
    return announced
