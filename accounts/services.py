"""Account actions shared by the API, the dashboard and the management commands."""

from django.conf import settings
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


@transaction.atomic
def ensure_operator(*, username: str, password: str) -> tuple[User, bool]:
    """Create the operator `username` if absent (used for the demo login); returns (user, created)."""
    user, created = User.objects.get_or_create(
        username=username, defaults={"is_staff": True, "is_superuser": True}
    )
    if created:
        user.set_password(password)
        user.save(update_fields=["password"])
    return user, created
