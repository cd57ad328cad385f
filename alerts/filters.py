"""Filters of the alert list: one FilterSet for the API, and its history-page form of it."""

from datetime import date, datetime, time, timedelta
from typing import Any

import django_filters
from django import forms
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from cameras.models import Camera
from cameras.selectors import cameras_for_user
from people.models import Person

from .models import Alert


class AlertFilterForm(forms.Form):
    """The rule every alert filter keeps: a range that ends before it starts is an error."""

    field_order = ["camera", "person", "since", "until", "acknowledged"]

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            self.add_error("until", "The end date is before the start date.")
        person = data.get("person")
        if person and person != UNKNOWN and not (person.isdigit() and int(person) < 2**63):
            self.add_error("person", "Give a person's id, or 'unknown'.")
        return data


UNKNOWN = "unknown"  # the person filter's value for faces nobody was recognised as


class AlertFilter(django_filters.FilterSet):
    """The API's filters: a camera id, since/until as ISO 8601 times (until excluded), status."""

    # Typed as any filter: HistoryFilter shows the same three in other forms.
    camera: django_filters.Filter = django_filters.NumberFilter(
        field_name="camera_id", min_value=1, max_value=2**63 - 1
    )
    since: django_filters.Filter = django_filters.IsoDateTimeFilter(
        field_name="created_at", lookup_expr="gte"
    )
    until: django_filters.Filter = django_filters.IsoDateTimeFilter(
        field_name="created_at", lookup_expr="lt"
    )
    person: django_filters.Filter = django_filters.CharFilter(
        method="filter_person",
        help_text="A person's id: the alerts that named them; 'unknown': those that named nobody.",
    )
    acknowledged = django_filters.ChoiceFilter(
        label="Status",
        empty_label="Any status",
        choices=[("false", "Unacknowledged"), ("true", "Acknowledged")],
        method="filter_acknowledged",
    )

    class Meta:
        model = Alert
        fields = ["camera", "person", "since", "until", "acknowledged"]
        form = AlertFilterForm

    def filter_person(self, alerts: QuerySet[Alert], name: str, value: str) -> QuerySet[Alert]:
        if value == UNKNOWN:
            return alerts.filter(person__isnull=True)
        return alerts.filter(person_id=int(value))

    def filter_acknowledged(
        self, alerts: QuerySet[Alert], name: str, value: str
    ) -> QuerySet[Alert]:
        return alerts.filter(acknowledged_at__isnull=value != "true")


def _visible_cameras(request: HttpRequest | None) -> QuerySet[Camera]:
    return cameras_for_user(request.user) if request else Camera.objects.none()


def _person_choices() -> list[tuple[str, str]]:
    return [(UNKNOWN, "Unknown faces")] + [
        (str(pk), name) for pk, name in Person.objects.values_list("pk", "name")
    ]


def start_of(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


class HistoryFilter(AlertFilter):
    """The history page's form of the same filters: a camera menu and whole days, To included."""

    # django-filter calls a callable queryset with the request; its stubs take only a QuerySet.
    camera = django_filters.ModelChoiceFilter(queryset=_visible_cameras, empty_label="All cameras")  # type: ignore[arg-type]
    person = django_filters.ChoiceFilter(
        choices=_person_choices, empty_label="Anyone", method="filter_person"
    )
    since = django_filters.DateFilter(
        label="From", method="filter_from", widget=forms.DateInput(attrs={"type": "date"})
    )
    until = django_filters.DateFilter(
        label="To", method="filter_to", widget=forms.DateInput(attrs={"type": "date"})
    )

    def filter_from(self, alerts: QuerySet[Alert], name: str, day: date) -> QuerySet[Alert]:
        return alerts.filter(created_at__gte=start_of(day))

    def filter_to(self, alerts: QuerySet[Alert], name: str, day: date) -> QuerySet[Alert]:
        return alerts.filter(created_at__lt=start_of(day + timedelta(days=1)))
