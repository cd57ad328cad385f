"""Periodic audit housekeeping."""

from celery import shared_task
from django.conf import settings

from .services import prune_audit


@shared_task(ignore_result=True)
def prune_expired_audit() -> int:
    """Daily: delete audit entries older than AUDIT_RETENTION_DAYS."""
    return prune_audit(older_than_days=settings.AUDIT_RETENTION_DAYS)
