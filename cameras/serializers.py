"""Camera API shapes. Validation lives on the model (field validators), not here; saving goes
through the services (cameras/api.py)."""

from rest_framework import serializers

from accounts.permissions import is_operator
from detection.redaction import redact_url

from .models import CREDENTIAL_FIELDS, EDITABLE_FIELDS, READ_ONLY_FIELDS, Camera


class CameraSerializer(serializers.ModelSerializer):
    stream_path = serializers.CharField(read_only=True)

    class Meta:
        model = Camera
        fields = ["id", *EDITABLE_FIELDS, *READ_ONLY_FIELDS, "stream_path"]
        read_only_fields = READ_ONLY_FIELDS

    def to_representation(self, instance: Camera) -> dict:
        data = super().to_representation(instance)
        request = self.context.get("request")
        if not (request and is_operator(request.user)):
            for name in CREDENTIAL_FIELDS:
                data[name] = redact_url(getattr(instance, name))
        return data
