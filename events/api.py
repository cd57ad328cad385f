"""Webhook endpoints over the API, operators only: CRUD, a delivery log, and a test event. Every
write goes through events.services."""

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.permissions import IsOperator

from . import services
from .models import Delivery, WebhookEndpoint
from .serializers import DeliverySerializer, WebhookEndpointSerializer

DELIVERY_LOG_LENGTH = 100


def _django_errors(exc: DjangoValidationError) -> serializers.ValidationError:
    return serializers.ValidationError(
        exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
    )


class WebhookEndpointViewSet(viewsets.ModelViewSet):
    queryset = WebhookEndpoint.objects.prefetch_related("cameras")
    serializer_class = WebhookEndpointSerializer
    permission_classes = [IsOperator]
    lookup_value_regex = r"[0-9]+"
    pagination_class = None

    def perform_create(self, serializer: Any) -> None:
        try:
            serializer.instance = services.create_webhook(**serializer.validated_data)
        except DjangoValidationError as exc:
            raise _django_errors(exc) from exc
        # The one answer that shows the secret: it may have been generated here.
        serializer.context["reveal_secret"] = True

    def perform_update(self, serializer: Any) -> None:
        try:
            serializer.instance = services.update_webhook(
                serializer.instance, **serializer.validated_data
            )
        except DjangoValidationError as exc:
            raise _django_errors(exc) from exc

    def perform_destroy(self, instance: WebhookEndpoint) -> None:
        services.delete_webhook(instance)

    @extend_schema(request=None, responses={202: None})
    @action(detail=True, methods=["post"])
    def test(self, request: Request, pk: str | None = None) -> Response:
        """Send a `webhook.test` event to this endpoint (through the outbox, like any event)."""
        event = services.send_test_event(self.get_object())
        return Response({"event_id": str(event.event_id)}, status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses=DeliverySerializer(many=True))
    @action(detail=True, methods=["get"])
    def deliveries(self, request: Request, pk: str | None = None) -> Response:
        """The newest deliveries of this endpoint; `?status=pending|delivered|failed`."""
        rows: QuerySet[Delivery] = (
            self.get_object().deliveries.select_related("event").order_by("-id")
        )
        wanted = request.query_params.get("status")
        if wanted:
            if wanted not in Delivery.Status.values:
                choices = ", ".join(Delivery.Status.values)
                raise serializers.ValidationError({"status": [f"choose one of: {choices}"]})
            rows = rows.filter(status=wanted)
        return Response(DeliverySerializer(rows[:DELIVERY_LOG_LENGTH], many=True).data)
