"""Reads of cameras, scoped to what a user may see."""

from django.contrib.auth.models import AnonymousUser
from django.db.models import QuerySet

from accounts.models import User
from accounts.permissions import is_approved

from .models import Camera


def cameras_for_user(user: User | AnonymousUser) -> QuerySet[Camera]:
    """The one place that decides which cameras a user sees (and so their alerts, video, live
    feed and tokens): none while pending; every camera with `all_cameras`; else those of the
    user's camera groups."""
    if not isinstance(user, User) or not is_approved(user):
        return Camera.objects.none()
    if sees_every_camera(user):
        return Camera.objects.all()
    return Camera.objects.filter(groups__members=user).distinct()


def sees_every_camera(user: User | AnonymousUser) -> bool:
    return is_approved(user) and (user.is_superuser or getattr(user, "all_cameras", False))
