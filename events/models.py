"""Events out: what happened (Event), where it goes (WebhookEndpoint) and the outbox of one row
per event and destination (Delivery), written in the same transaction as what caused it."""

import uuid

from django.db import models
from django.utils import timezone


class EventType(models.TextChoices):
    ALERT_CREATED = "alert.created", "alert created"
    ALERT_ACKNOWLEDGED = "alert.acknowledged", "alert acknowledged"
    CAMERA_OFFLINE = "camera.offline", "camera offline"
    CAMERA_ONLINE = "camera.online", "camera back online"
    WEBHOOK_TEST = "webhook.test", "test event (sent on request to one endpoint)"


# What an endpoint may subscribe to; the test event goes only where an operator sends it.
SUBSCRIBABLE_EVENTS = [t.value for t in EventType if t != EventType.WEBHOOK_TEST]


class Event(models.Model):
    # The idempotency key receivers dedupe on: every delivery of this event carries it.
    event_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    type = models.CharField(max_length=32, choices=EventType.choices, db_index=True)
    camera = models.ForeignKey(
        "cameras.Camera", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    data = models.JSONField(default=dict)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"


class WebhookEndpoint(models.Model):
    name = models.CharField(max_length=100, unique=True)
    url = models.URLField("URL", max_length=2000)
    # Kept as written: signing needs it. Never shown back or logged after creation.
    secret = models.CharField(max_length=200)
    events = models.JSONField(
        default=list, blank=True, help_text="Event types to send; empty: every event."
    )
    cameras = models.ManyToManyField(
        "cameras.Camera",
        blank=True,
        related_name="+",
        help_text="Only events of these cameras; none: every camera.",
    )
    enabled = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=300, blank=True)
    # When the oldest delivery still failing first failed; cleared by any success.
    failing_since = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Delivery(models.Model):
    """One event on its way to one destination: a webhook endpoint, or the MQTT broker."""

    class Status(models.TextChoices):
        PENDING = "pending", "pending"
        DELIVERED = "delivered", "delivered"
        FAILED = "failed", "failed (gave up)"

    class Target(models.TextChoices):
        WEBHOOK = "webhook", "webhook"
        MQTT = "mqtt", "MQTT broker"

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="deliveries")
    target = models.CharField(max_length=8, choices=Target.choices, default=Target.WEBHOOK)
    endpoint = models.ForeignKey(
        WebhookEndpoint,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="deliveries",
        help_text="The webhook endpoint; none for MQTT.",
    )
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "deliveries"
        indexes = [
            models.Index(
                fields=["target", "endpoint", "id"],
                condition=models.Q(status="pending"),
                name="delivery_pending_by_endpoint",
            )
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(target="webhook", endpoint__isnull=False)
                | models.Q(target="mqtt", endpoint__isnull=True),
                name="delivery_webhook_has_endpoint",
            )
        ]

    def __str__(self) -> str:
        return f"{self.event} → {self.endpoint or self.target} ({self.status})"


class CameraAvailability(models.Model):
    """Since when a running camera is not online, and whether `camera.offline` went out for it:
    one event per outage, however many reconnect attempts it takes."""

    camera = models.OneToOneField(
        "cameras.Camera", on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    down_since = models.DateTimeField(null=True, blank=True)
    reported_offline = models.BooleanField(default=False)

    class Meta:
        verbose_name_plural = "camera availability"

    def __str__(self) -> str:
        return f"camera {self.camera_id}: down since {self.down_since}"
