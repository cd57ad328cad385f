"""Reads of alerts, scoped to the cameras a user may see."""

from django.contrib.auth.models import AnonymousUser
from django.db.models import QuerySet

from accounts.models import User
from cameras.selectors import cameras_for_user

from .models import Alert

ALERT_FIELDS = [field.name for field in Alert._meta.concrete_fields]


def alerts_for_user(
    user: User | AnonymousUser,
    *,
    camera_id: int | None = None,
) -> QuerySet[Alert]:
    """The alerts of the cameras `user` may see (of one of them with `camera_id`); the list's
    other filters are alerts.filters', applied by the API and the history page alike."""
    alerts = (
        Alert.objects.filter(camera__in=cameras_for_user(user))
        .select_related("camera", "acknowledged_by", "person")
        # Of the related rows, only what an alert shows: building the whole camera and user for
        # every row was an eighth of a list page's CPU (bench/alerts_scale.py).
        .only(*ALERT_FIELDS, "camera__name", "acknowledged_by__username", "person__name")
    )
    if camera_id is not None:
        alerts = alerts.filter(camera_id=camera_id)
    return alerts


def alerts_after(
    user: User, after_id: int, *, camera_ids: list[int] | None, limit: int
) -> list[Alert]:
    """Alerts with id > after_id in id order (what a reconnecting client missed), at most `limit`."""
    alerts = alerts_for_user(user).filter(pk__gt=after_id)
    if camera_ids is not None:
        alerts = alerts.filter(camera_id__in=camera_ids)
    return list(alerts.order_by("id")[:limit])
