"""Camera admin: list, filters, search, and start/stop actions through the stream services."""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from . import services
from .models import Camera


@admin.register(Camera)
class CameraAdmin(admin.ModelAdmin):
    list_display = ["name", "location", "status", "desired_state", "last_frame_at", "fps_out"]
    list_filter = ["status", "desired_state", "detector"]
    search_fields = ["name", "location"]
    readonly_fields = [
        "status",
        "desired_state",
        "last_error",
        "last_frame_at",
        "fps_in",
        "fps_out",
        "frames_dropped",
        "created_at",
        "updated_at",
    ]
    actions = ["start_streams", "stop_streams"]

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
