"""Camera admin: list, filters, search; add, edit, delete and start/stop through the services."""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest

from . import services
from .models import (
    DETECTION_FIELDS,
    READ_ONLY_FIELDS,
    REGION_FIELDS,
    SOURCE_FIELDS,
    Camera,
    CameraGroup,
)


@admin.register(Camera)
class CameraAdmin(admin.ModelAdmin):
    list_display = ["name", "location", "status", "desired_state", "last_frame_at", "fps_out"]
    list_filter = ["status", "desired_state", "detector"]
    search_fields = ["name", "location"]
    fieldsets = [
        ("Source", {"fields": SOURCE_FIELDS}),
        ("Detection", {"fields": DETECTION_FIELDS}),
        ("Where faces count", {"fields": REGION_FIELDS}),
        ("State", {"fields": READ_ONLY_FIELDS}),
    ]
    readonly_fields = READ_ONLY_FIELDS
    actions = ["start_streams", "stop_streams"]

    def save_model(self, request: HttpRequest, obj: Camera, form: ModelForm, change: bool) -> None:
        if change:
            saved = services.update_camera(obj, **form.cleaned_data)
        else:
            saved = services.create_camera(**form.cleaned_data)
        # The admin goes on with `obj` (its log entry, the redirect to the saved camera).
        obj.pk = saved.pk
        obj.refresh_from_db()

    def delete_model(self, request: HttpRequest, obj: Camera) -> None:
        services.delete_camera(obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Camera]) -> None:
        for camera in queryset:
            services.delete_camera(camera)

    @admin.action(description="Start streams")
    def start_streams(self, request: HttpRequest, queryset: QuerySet[Camera]) -> None:
        for camera in queryset:
            services.start_stream(camera)
        self.message_user(request, f"Started {queryset.count()} stream(s).", messages.SUCCESS)

    @admin.action(description="Stop streams")
    def stop_streams(self, request: HttpRequest, queryset: QuerySet[Camera]) -> None:
        for camera in queryset:
            services.stop_stream(camera)
        self.message_user(request, f"Stopped {queryset.count()} stream(s).", messages.SUCCESS)


@admin.register(CameraGroup)
class CameraGroupAdmin(admin.ModelAdmin):
    """Sites: which cameras, seen by whom (accounts with "all cameras" see every camera)."""

    list_display = ["name"]
    search_fields = ["name"]
    filter_horizontal = ["cameras", "members"]
