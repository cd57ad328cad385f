"""Alert API shape, shared by the REST API and the WebSocket `alert` event."""

from django.urls import reverse
from rest_framework import serializers

from .models import Alert


class AlertSerializer(serializers.ModelSerializer):
    camera_name = serializers.CharField(source="camera.name", read_only=True)
    snapshot_url = serializers.SerializerMethodField()
    acknowledged_by = serializers.CharField(
        source="acknowledged_by.username", read_only=True, default=None, allow_null=True
    )

    class Meta:
        model = Alert
        fields = [
            "id",
            "camera",
            "camera_name",
            "created_at",
            "face_count",
            "boxes",
            "snapshot_url",
            "acknowledged_at",
            "acknowledged_by",
        ]
        read_only_fields = fields

    def get_snapshot_url(self, alert: Alert) -> str | None:
        return reverse("alert-snapshot", args=[alert.pk]) if alert.snapshot else None
