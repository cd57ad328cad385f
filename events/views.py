"""The operators' webhooks page: each endpoint with its state and delivery log, and a "send a
test event" button. Endpoints are added and edited in the admin or through the API."""

from dataclasses import dataclass

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from accounts.requests import AuthenticatedHttpRequest
from accounts.views import operator_required

from . import services
from .models import Delivery, WebhookEndpoint

LOG_LENGTH = 20


@dataclass(frozen=True)
class EndpointLog:
    endpoint: WebhookEndpoint
    recent: list[Delivery]  # newest first
    pending: int


@operator_required
def webhooks(request: AuthenticatedHttpRequest) -> HttpResponse:
    logs = [
        EndpointLog(
            endpoint,
            list(endpoint.deliveries.select_related("event").order_by("-id")[:LOG_LENGTH]),
            endpoint.deliveries.filter(status=Delivery.Status.PENDING).count(),
        )
        for endpoint in WebhookEndpoint.objects.prefetch_related("cameras")
    ]
    return render(request, "events/webhooks.html", {"logs": logs})


@require_POST
@operator_required
def send_test(request: AuthenticatedHttpRequest, webhook_id: int) -> HttpResponse:
    endpoint = get_object_or_404(WebhookEndpoint, pk=webhook_id)
    event = services.send_test_event(endpoint)
    messages.success(request, f"Test event {event.event_id} queued for {endpoint.name}.")
    return redirect("webhooks")
