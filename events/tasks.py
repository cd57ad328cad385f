"""Celery glue for events out: deliver one endpoint's outbox, sweep for what was left behind,
and announce cameras that stayed offline."""

from celery import shared_task

from .services import check_camera_availability, deliver_pending, sweep_outbox


@shared_task(ignore_result=True)
def deliver_webhooks(endpoint_id: int) -> None:
    """Deliver the endpoint's pending events in order; if the head of the line must wait, come
    back when it is due (the sweep would too, but later)."""
    run = deliver_pending(endpoint_id)
    if run.retry_in_s is not None:
        deliver_webhooks.apply_async((endpoint_id,), countdown=max(run.retry_in_s, 0.0))


@shared_task(ignore_result=True)
def sweep_webhook_outbox() -> None:
    """Beat, every OUTBOX_SWEEP_S: re-queue endpoints whose due deliveries have no task."""
    sweep_outbox()


@shared_task(ignore_result=True)
def check_cameras_offline() -> None:
    """Beat, every few seconds: one camera.offline per camera down CAMERA_OFFLINE_AFTER_S."""
    check_camera_availability()
