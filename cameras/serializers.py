"""Camera API shapes. Validation lives on the model (field validators), not here."""

from rest_framework import serializers

from accounts.permissions import is_operator
from detection.urls import redact_url

from .models import Camera


class CameraSerializer(serializers.ModelSerializer):
    stream_path = serializers.CharField(read_only=True)

    class Meta:
        model = Camera
        fields = [
            "id",
            "name",
            "url",
            "location",
            "transport",
            "desired_state",
            "status",
            "last_error",
            "last_frame_at",
            "fps_in",
            "fps_out",
            "frames_dropped",
            "detector",
            "interval_ms",
            "scale_factor",
            "min_neighbors",
            "min_face_size",
            "cooldown_s",
            "motion_gating",
            "stream_path",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "desired_state",
            "status",
            "last_error",
            "last_frame_at",
            "fps_in",
            "fps_out",
            "frames_dropped",
            "created_at",
            "updated_at",
        ]

    def to_representation(self, instance: Camera) -> dict:
        data = super().to_representation(instance)
        request = self.context.get("request")
        if not (request and is_operator(request.user)):
            data["url"] = redact_url(instance.url)
        return data
