"""Account actions shared by the API, the dashboard and the management commands."""

from django.conf import settings
from django.contrib.auth.models import Permission
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from .models import User


class SignupDisabled(PermissionDenied):
    """Sign-up is switched off (SIGNUP_ENABLED=false)."""


def sign_up(*, username: str, password: str, email: str = "") -> User:
    """Create a viewer account; raises SignupDisabled or django ValidationError."""
    if not settings.SIGNUP_ENABLED:
        raise SignupDisabled("Sign-up is disabled on this server.")
    user = User(username=username, email=email)
    user.set_unusable_password()
    user.full_clean()  # username rules and uniqueness, as field errors
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise ValidationError({"password": exc.messages}) from exc
    user.set_password(password)
    user.save()
    return user


# What an operator may do in the admin besides the dashboard: cameras, and alerts (not accounts).
OPERATOR_ADMIN_APPS = ["cameras", "alerts"]
OPERATOR_ADMIN_PERMISSIONS = [
    "add_camera",
    "change_camera",
    "delete_camera",
    "view_camera",
    "change_alert",
    "view_alert",
]


@transaction.atomic
def ensure_operator(*, username: str, password: str) -> tuple[User, bool]:
    """Create the operator `username` if absent (used for the demo login); returns (user, created).

    An operator is staff with the camera and alert admin permissions, not a superuser: the
    admin's user pages stay out of its reach."""
    user, created = User.objects.get_or_create(username=username, defaults={"is_staff": True})
    if created:
        user.set_password(password)
        user.save(update_fields=["password"])
        user.user_permissions.set(
            Permission.objects.filter(
                content_type__app_label__in=OPERATOR_ADMIN_APPS,
                codename__in=OPERATOR_ADMIN_PERMISSIONS,
            )
        )
    return user, created
