"""The audit log: who changed what, when and from where. Rows are only ever added (and pruned
after AUDIT_RETENTION_DAYS); nothing edits them."""

from django.conf import settings
from django.db import models


class AuditEntry(models.Model):
    class Via(models.TextChoices):
        WEB = "web", "dashboard"
        API = "api", "REST API"
        ADMIN = "admin", "admin"
        CLI = "cli", "manage.py"
        SYSTEM = "system", "Skylark itself"

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    # The name stays when the account is deleted: the log must still say who it was.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_name = models.CharField(max_length=150, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    via = models.CharField(max_length=8, choices=Via.choices)
    action = models.CharField(max_length=64, db_index=True)  # "camera.update", "account.approve"
    target_type = models.CharField(max_length=32)  # "camera", "account", "alert"
    target_id = models.CharField(max_length=64, blank=True)
    target_repr = models.CharField(max_length=200, blank=True)
    # {"field": [before, after]}: before is null for what was created, after for what was
    # deleted; secrets masked.
    changes = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ("-at", "-id")
        verbose_name_plural = "audit entries"
        indexes = [models.Index(fields=["target_type", "target_id"])]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_name or self.via} {self.action}"
