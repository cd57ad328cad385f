"""Celery glue for events out: deliver one destination's outbox (a webhook endpoint, or MQTT),
sweep for what was left behind, announce cameras that stayed offline, publish Home Assistant
discovery, prune old events."""

import logging

from celery import shared_task
from django.conf import settings

from detection.logfmt import kv

from . import mqtt
from .services import (
    check_camera_availability,
    deliver_mqtt_pending,
    deliver_pending,
    prune_events,
    sweep_outbox,
    task_started,
)

logger = logging.getLogger("skylark.events")


@shared_task(ignore_result=True)
def deliver_webhooks(endpoint_id: int) -> None:
    """Deliver the endpoint's pending events in order; if the head of the line failed, come back
    when its retry is due (the sweep would too, but later)."""
    task_started(f"webhook:{endpoint_id}")
    run = deliver_pending(endpoint_id)
    if run.retry_in_s is not None:
        deliver_webhooks.apply_async((endpoint_id,), countdown=max(run.retry_in_s, 0.0))


@shared_task(ignore_result=True)
def sweep_webhook_outbox() -> None:
    """Beat, every OUTBOX_SWEEP_S: re-queue the destinations (webhook endpoints and MQTT) whose
    due deliveries may have lost their task."""
    sweep_outbox()


@shared_task(ignore_result=True)
def check_cameras_offline() -> None:
    """Beat, every few seconds: one camera.offline per camera down CAMERA_OFFLINE_AFTER_S."""
    check_camera_availability()


@shared_task(ignore_result=True)
def deliver_mqtt() -> None:
    """Publish the pending MQTT deliveries in order; on failure, come back when the head is due."""
    task_started("mqtt")
    run = deliver_mqtt_pending()
    if run.retry_in_s is not None:
        deliver_mqtt.apply_async(countdown=max(run.retry_in_s, 0.0))


@shared_task(ignore_result=True)
def publish_mqtt_discovery(camera_ids: list[int] | None = None) -> None:
    """Home Assistant discovery, retained: after a camera is saved, and from beat every
    MQTT_DISCOVERY_S (a broker that lost its retained messages gets them again)."""
    if mqtt.enabled():
        try:
            mqtt.publish_discovery(camera_ids)
        except mqtt.PublishError as exc:
            logger.warning(kv(event="mqtt_discovery_failed", error=exc))


@shared_task(ignore_result=True)
def remove_mqtt_discovery(camera_id: int) -> None:
    """A deleted camera's device leaves Home Assistant."""
    if mqtt.enabled():
        try:
            mqtt.remove_discovery(camera_id)
        except mqtt.PublishError as exc:
            logger.warning(kv(event="mqtt_discovery_failed", error=exc))


@shared_task(ignore_result=True)
def prune_expired_events() -> int:
    """Daily: delete delivered (or given-up) events older than EVENT_RETENTION_DAYS."""
    return prune_events(older_than_days=settings.EVENT_RETENTION_DAYS)
