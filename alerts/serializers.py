"""Alert API shape, shared by the REST API and the WebSocket `alert` event."""

from django.urls import reverse
from rest_framework import serializers

from .models import Alert

# An id no other part of the snapshot URL contains, to cut the reversed URL around.
_ID_MARK = 987654321012345


class AlertSerializer(serializers.ModelSerializer):
    camera_name = serializers.CharField(source="camera.name", read_only=True)
    snapshot_url = serializers.SerializerMethodField()
    person_name = serializers.CharField(
        source="person.name", read_only=True, default=None, allow_null=True
    )
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
            "person",
            "person_name",
            "similarity",
            "snapshot_url",
            "acknowledged_at",
            "acknowledged_by",
        ]
        read_only_fields = fields

    # reverse() once per serializer, not once per alert: it was a seventh of a list page's CPU
    # (docs/benchmarks.md, "API (session 8)"). A list page's rows share one child serializer.
    _snapshot_url_parts: tuple[str, str] | None = None

    def get_snapshot_url(self, alert: Alert) -> str | None:
        if not alert.snapshot:
            return None
        if self._snapshot_url_parts is None:
            head, tail = reverse("alert-snapshot", args=[_ID_MARK]).split(str(_ID_MARK))
            self._snapshot_url_parts = (head, tail)
        head, tail = self._snapshot_url_parts
        return f"{head}{alert.pk}{tail}"
