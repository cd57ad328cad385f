"""Webhook endpoints and their delivery log over the API. The secret is write-only: it is shown
once, in the answer to the POST that created it, and masked ever after."""

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from cameras.models import Camera

from .destinations import check_webhook_url
from .models import SUBSCRIBABLE_EVENTS, Delivery, WebhookEndpoint

MASK = "********"


class WebhookEndpointSerializer(serializers.ModelSerializer):
    secret = serializers.CharField(
        required=False,
        allow_blank=True,
        min_length=16,
        max_length=200,
        trim_whitespace=False,
        help_text="At least 16 characters; generated when omitted. Shown once, on creation.",
    )
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=SUBSCRIBABLE_EVENTS),
        required=False,
        help_text="Event types to send; empty or omitted: all of them.",
    )
    cameras = serializers.PrimaryKeyRelatedField(
        many=True, required=False, queryset=Camera.objects.all()
    )

    class Meta:
        model = WebhookEndpoint
        fields = [
            "id",
            "name",
            "url",
            "secret",
            "events",
            "cameras",
            "enabled",
            "disabled_reason",
            "failing_since",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["disabled_reason", "failing_since", "created_at", "updated_at"]

    def validate_url(self, value: str) -> str:
        try:
            check_webhook_url(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from exc
        return value

    def validate_events(self, value: list[str]) -> list[str]:
        return sorted(set(value))

    def to_representation(self, instance: WebhookEndpoint) -> dict[str, Any]:
        data = super().to_representation(instance)
        data["secret"] = instance.secret if self.context.get("reveal_secret") else MASK
        return data


class DeliverySerializer(serializers.ModelSerializer):
    event_id = serializers.UUIDField(source="event.event_id")
    event_type = serializers.CharField(source="event.type")
    camera = serializers.IntegerField(source="event.camera_id", allow_null=True)

    class Meta:
        model = Delivery
        fields = [
            "id",
            "event_id",
            "event_type",
            "camera",
            "status",
            "attempts",
            "response_code",
            "latency_ms",
            "last_error",
            "created_at",
            "last_attempt_at",
            "next_attempt_at",
            "delivered_at",
        ]
        read_only_fields = fields
