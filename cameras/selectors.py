"""Reads of cameras, scoped to what a user may see."""

from django.contrib.auth.models import AnonymousUser
from django.db.models import QuerySet

from accounts.models import User

from .models import Camera


def cameras_for_user(user: User | AnonymousUser) -> QuerySet[Camera]:
    """Every logged-in user sees every camera; this is the one place to narrow that."""
    if not user.is_authenticated:
        return Camera.objects.none()
    return Camera.objects.all()
