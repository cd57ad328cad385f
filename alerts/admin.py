"""Alert admin: list with thumbnails, filters by camera and date, read-only snapshot preview."""

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html

from .models import Alert


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "camera",
        "created_at",
        "face_count",
        "person",
        "thumbnail",
        "acknowledged_at",
    ]
    list_filter = ["camera", "person", ("created_at", admin.DateFieldListFilter)]
    list_select_related = ["camera", "person"]
    show_full_result_count = False
    readonly_fields = [
        "preview",
        "camera",
        "created_at",
        "face_count",
        "boxes",
        "snapshot",
        "person",
        "similarity",
    ]
    fields = [
        "camera",
        "created_at",
        "face_count",
        "person",
        "similarity",
        "boxes",
        "preview",
        "acknowledged_at",
        "acknowledged_by",
    ]

    def _image(self, alert: Alert, height: int) -> str:
        if not alert.snapshot:
            return "—"
        url = reverse("alert-snapshot", args=[alert.pk])
        return format_html('<img src="{}" alt="snapshot" style="height:{}px">', url, height)

    @admin.display(description="Snapshot")
    def thumbnail(self, alert: Alert) -> str:
        return self._image(alert, 48)

    @admin.display(description="Snapshot")
    def preview(self, alert: Alert) -> str:
        return self._image(alert, 360)
