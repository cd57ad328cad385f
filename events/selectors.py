"""Reads of events for the dashboard."""

from django.db.models import QuerySet

from accounts.models import User
from cameras.selectors import cameras_for_user

from .models import Event, EventType

OUTAGE_TYPES = (EventType.CAMERA_OFFLINE, EventType.CAMERA_ONLINE)


def outages_for_user(user: User, camera_id: int | None = None, limit: int = 20) -> QuerySet[Event]:
    """The newest camera.offline / camera.online events of the cameras `user` sees."""
    events = Event.objects.filter(type__in=OUTAGE_TYPES, camera__in=cameras_for_user(user))
    if camera_id is not None:
        events = events.filter(camera_id=camera_id)
    return events.select_related("camera").order_by("-created_at", "-id")[:limit]
