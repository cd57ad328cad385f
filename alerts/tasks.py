"""Periodic alert housekeeping."""

from celery import shared_task
from django.conf import settings

from .services import prune_alerts


@shared_task(ignore_result=True)
def prune_expired_alerts() -> int:
    """Daily: delete alerts (and snapshots) older than ALERT_RETENTION_DAYS."""
    return prune_alerts(older_than_days=settings.ALERT_RETENTION_DAYS).alerts
