"""Recording what operators do. Services call `record` after they change something; the actor
and address come from the acting context (audit.context), secrets never reach the log."""

import logging
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

from django.db import models
from django.utils import timezone

from detection.logfmt import kv
from detection.redaction import redact_url

from .context import current_actor
from .models import AuditEntry

logger = logging.getLogger("skylark.audit")

MASK = "***"
_SECRET_WORDS = ("password", "secret", "token", "totp")


def masked(field: str, value: Any) -> Any:
    """What the log may keep of a field's value: secrets masked, URL credentials hidden."""
    if any(word in field.lower() for word in _SECRET_WORDS):
        return MASK if value else value
    if isinstance(value, str) and "://" in value:
        return redact_url(value)
    if isinstance(value, models.Model):
        return str(value)
    if isinstance(value, Iterable) and not isinstance(value, str | bytes | Mapping):
        return [masked(field, item) for item in value]
    return value


def snapshot(instance: models.Model, fields: Iterable[str]) -> dict[str, Any]:
    """The audit-safe values of `fields` on `instance`, to compare before and after a change."""
    return {name: masked(name, getattr(instance, name)) for name in fields}


def changed(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, list[Any]]:
    """{field: [before, after]} for the fields whose (masked) value differs."""
    return {
        name: [before.get(name), after.get(name)]
        for name in after
        if before.get(name) != after.get(name)
    }


def record(
    action: str, target: models.Model, changes: Mapping[str, list[Any]] | None = None
) -> AuditEntry:
    """Add an entry for `action` on `target` by whoever is acting now, with `changes` as
    {field: [before, after]} (from `changed`, `created` or `deleted`: already masked)."""
    actor = current_actor()
    request = actor.request
    user = getattr(request, "user", None) if request is not None else None
    if user is not None and not user.is_authenticated:
        user = None
    entry = AuditEntry.objects.create(
        actor=user,
        actor_name=user.get_username() if user is not None else actor.name,
        ip=(request.META.get("REMOTE_ADDR") or None) if request is not None else None,
        via=actor.via,
        action=action,
        target_type=target._meta.model_name or "",
        target_id=str(target.pk or ""),
        target_repr=str(target)[:200],
        changes=dict(changes or {}),
    )
    target_key = f"{entry.target_type}:{entry.target_id}"
    logger.info(
        kv(event="audit", action=action, target=target_key, by=entry.actor_name or actor.via)
    )
    return entry


def created(values: Mapping[str, Any]) -> dict[str, list[Any]]:
    """The changes of something new: every field from nothing to its (masked) value."""
    return {name: [None, value] for name, value in values.items() if value not in (None, "", [])}


def deleted(values: Mapping[str, Any]) -> dict[str, list[Any]]:
    return {name: [value, None] for name, value in values.items() if value not in (None, "", [])}


def prune_audit(*, older_than_days: int) -> int:
    """Delete entries older than the retention; how many went."""
    cutoff = timezone.now() - timedelta(days=older_than_days)
    deleted, _ = AuditEntry.objects.filter(at__lt=cutoff).delete()
    if deleted:
        logger.info(kv(event="audit_pruned", entries=deleted, older_than_days=older_than_days))
    return deleted
