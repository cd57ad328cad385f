"""Dashboard alert history: filters, keyset pagination (no COUNT, no OFFSET), and acknowledge."""

from datetime import date, datetime, time, timedelta

from django import forms
from django.contrib.auth.decorators import login_required
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.models import User
from cameras.selectors import cameras_for_user
from config.dashboard import redirect_back, wants_json

from . import services
from .models import Alert
from .selectors import alerts_for_user
from .serializers import AlertSerializer

PAGE_SIZE = 25


class HistoryFilterForm(forms.Form):
    camera = forms.ModelChoiceField(queryset=None, required=False, empty_label="All cameras")
    since = forms.DateField(
        label="From", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        label="To", required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    acknowledged = forms.NullBooleanField(
        label="Status",
        required=False,
        widget=forms.Select(
            choices=[("", "Any status"), ("false", "Unacknowledged"), ("true", "Acknowledged")]
        ),
    )

    def __init__(self, user: User, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["camera"].queryset = cameras_for_user(user)

    def clean(self) -> dict:
        data = super().clean()
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            self.add_error("until", "The end date is before the start date.")
        return data


def _start_of(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def _parse_cursor(value: str) -> tuple[datetime, int]:
    """`<created_at ISO>,<id>` of the row a page starts after; ValueError if malformed."""
    created_at, _, pk = value.rpartition(",")
    parsed = datetime.fromisoformat(created_at)
    if parsed.tzinfo is None:
        raise ValueError("cursor time needs a UTC offset")
    return parsed, int(pk)


def _cursor(alert: Alert) -> str:
    return f"{alert.created_at.isoformat()},{alert.pk}"


def _page(
    alerts: QuerySet[Alert], before: str | None, after: str | None
) -> tuple[list[Alert], bool, bool]:
    """One page, newest first, seeking from a (created_at, id) cursor; returns (rows, older?, newer?)."""
    if after:
        created_at, pk = _parse_cursor(after)
        newer = alerts.filter(Q(created_at__gt=created_at) | Q(created_at=created_at, pk__gt=pk))
        rows = list(newer.order_by("created_at", "id")[: PAGE_SIZE + 1])
        return rows[:PAGE_SIZE][::-1], True, len(rows) > PAGE_SIZE
    if before:
        created_at, pk = _parse_cursor(before)
        alerts = alerts.filter(Q(created_at__lt=created_at) | Q(created_at=created_at, pk__lt=pk))
    rows = list(alerts.order_by("-created_at", "-id")[: PAGE_SIZE + 1])
    return rows[:PAGE_SIZE], len(rows) > PAGE_SIZE, bool(before)


@login_required
def history(request: HttpRequest) -> HttpResponse:
    form = HistoryFilterForm(request.user, request.GET)
    filters = form.cleaned_data if form.is_valid() else {}
    alerts = alerts_for_user(
        request.user,
        camera_id=filters["camera"].pk if filters.get("camera") else None,
        since=_start_of(filters["since"]) if filters.get("since") else None,
        until=_start_of(filters["until"] + timedelta(days=1)) if filters.get("until") else None,
        acknowledged=filters.get("acknowledged"),
    )
    try:
        rows, has_older, has_newer = _page(
            alerts, request.GET.get("before"), request.GET.get("after")
        )
    except ValueError:
        return HttpResponseBadRequest("Malformed page cursor.")
    return render(
        request,
        "alerts/history.html",
        {
            "form": form,
            "alerts": rows,
            "older_cursor": _cursor(rows[-1]) if rows and has_older else None,
            "newer_cursor": _cursor(rows[0]) if rows and has_newer else None,
            "is_first_page": not request.GET.get("before") and not request.GET.get("after"),
        },
    )


@require_POST
@login_required
def acknowledge(request: HttpRequest, alert_id: int) -> HttpResponse:
    alert = services.acknowledge_alert(
        get_object_or_404(alerts_for_user(request.user), pk=alert_id), request.user
    )
    if wants_json(request):
        return JsonResponse(AlertSerializer(alert).data)
    return redirect_back(request, "dashboard:alerts")
