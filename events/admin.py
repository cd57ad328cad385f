"""Webhook endpoints in the admin (through events.services), their deliveries and the events:
the last two read-only, written by Skylark."""

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest

from accounts.permissions import is_operator, needs_2fa_setup

from . import services
from .destinations import check_webhook_url
from .models import SUBSCRIBABLE_EVENTS, Delivery, Event, EventType, WebhookEndpoint


class WebhookEndpointForm(forms.ModelForm):
    url = forms.URLField(label="URL", max_length=2000, assume_scheme="https")
    secret = forms.CharField(
        widget=forms.PasswordInput(render_value=False),
        required=False,
        min_length=16,
        max_length=200,
        strip=False,
        help_text="At least 16 characters. Never shown again: leave empty to keep the current one.",
    )
    events = forms.MultipleChoiceField(
        choices=[(value, EventType(value).label) for value in SUBSCRIBABLE_EVENTS],
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="None ticked: every event.",
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["name", "url", "secret", "events", "cameras", "enabled"]

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        check_webhook_url(url)
        return url

    def clean_secret(self) -> str:
        secret = self.cleaned_data.get("secret", "")
        if not secret and self.instance.pk is None:
            raise forms.ValidationError("A new endpoint needs a secret (16 characters or more).")
        return secret


class DeliveryInline(admin.TabularInline):
    model = Delivery
    fields = ("event", "status", "attempts", "response_code", "latency_ms", "last_error")
    readonly_fields = fields
    ordering = ["-id"]
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True

    def get_queryset(self, request: HttpRequest) -> QuerySet[Delivery]:
        return super().get_queryset(request).select_related("event")

    def has_view_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return is_operator(request.user)


class OperatorsAdmin(admin.ModelAdmin):
    """Operators manage webhooks here as they do through the API (IsOperator), whatever model
    permissions their account was granted before this app existed."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return is_operator(request.user)

    def has_view_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return is_operator(request.user)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return is_operator(request.user) and not needs_2fa_setup(request.user)

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return self.has_add_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return self.has_add_permission(request)


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(OperatorsAdmin):
    form = WebhookEndpointForm
    list_display = ["name", "url", "enabled", "failing_since", "disabled_reason"]
    list_filter = ["enabled"]
    search_fields = ["name", "url"]
    filter_horizontal = ["cameras"]
    readonly_fields = ["disabled_reason", "failing_since"]
    actions = ["send_test_events"]

    def get_inlines(self, request: HttpRequest, obj: WebhookEndpoint | None) -> list:
        return [DeliveryInline] if obj is not None else []

    def save_model(
        self, request: HttpRequest, obj: WebhookEndpoint, form: ModelForm, change: bool
    ) -> None:
        fields = {k: form.cleaned_data[k] for k in ("name", "url", "secret", "events", "enabled")}
        cameras = list(form.cleaned_data["cameras"])
        if change:
            saved = services.update_webhook(obj, cameras=cameras, **fields)
        else:
            saved = services.create_webhook(cameras=cameras, **fields)
        obj.pk = saved.pk
        obj.refresh_from_db()

    def delete_model(self, request: HttpRequest, obj: WebhookEndpoint) -> None:
        services.delete_webhook(obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        for endpoint in queryset:
            services.delete_webhook(endpoint)

    @admin.action(description="Send a test event")
    def send_test_events(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        for endpoint in queryset:
            services.send_test_event(endpoint)
        self.message_user(request, f"Queued {queryset.count()} test event(s).", messages.SUCCESS)


class ReadOnlyAdmin(OperatorsAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = [
        "id", "endpoint", "event", "status", "attempts", "response_code", "latency_ms",
        "next_attempt_at", "last_error",
    ]  # fmt: skip
    list_filter = ["status", "endpoint"]
    list_select_related = ["endpoint", "event"]


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "type", "camera", "event_id"]
    list_filter = ["type"]
    search_fields = ["event_id"]
    date_hierarchy = "created_at"
