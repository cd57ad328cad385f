from django.contrib import admin
from django.http import HttpRequest

from .models import AuditEntry


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """Read-only: the log is written by Skylark, never by hand."""

    list_display = ("at", "actor_name", "via", "ip", "action", "target_type", "target_repr")
    list_filter = ("action", "via", "target_type")
    search_fields = ("actor_name", "target_repr", "target_id", "action")
    date_hierarchy = "at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
