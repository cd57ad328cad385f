"""Account actions shared by the API, the dashboard and the management commands."""

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Literal

from django.conf import settings
from django.contrib.auth.models import Permission
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import QuerySet

from audit.services import deleted, record
from detection.logfmt import kv

from .models import User

if TYPE_CHECKING:  # cameras' models know users; accounts' code only passes groups through
    from cameras.models import CameraGroup

logger = logging.getLogger("skylark.accounts")


class SignupDisabled(PermissionDenied):
    """Sign-up is switched off (SIGNUP_ENABLED=false)."""


def sign_up(*, username: str, password: str, email: str = "") -> User:
    """Create an account that waits for an operator's approval (it can log in, and sees
    nothing until then); raises SignupDisabled or django ValidationError."""
    if not settings.SIGNUP_ENABLED:
        raise SignupDisabled("Sign-up is disabled on this server.")
    user = User(username=username, email=email, approved=False, all_cameras=False)
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
    "add_cameragroup",
    "change_cameragroup",
    "delete_cameragroup",
    "view_cameragroup",
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
        _grant_operator(user)
    return user, created


def _grant_operator(user: User) -> None:
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    user.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label__in=OPERATOR_ADMIN_APPS,
            codename__in=OPERATOR_ADMIN_PERMISSIONS,
        )
    )


def pending_users() -> QuerySet[User]:
    """Accounts waiting for approval, oldest first."""
    return User.objects.filter(approved=False, is_staff=False, is_superuser=False).order_by(
        "date_joined", "id"
    )


Role = Literal["viewer", "operator"]


@transaction.atomic
def approve_user(
    user: User, *, role: Role, by: User, groups: Iterable["CameraGroup"] | None = None
) -> User:
    """Let a pending account in, as a viewer or an operator, to every camera (groups=None) or
    to the cameras of `groups` only."""
    user.approved = True
    user.all_cameras = groups is None
    user.save(update_fields=["approved", "all_cameras"])
    user.camera_groups.set(groups or [])
    if role == "operator":
        _grant_operator(user)
    names = "all" if groups is None else ",".join(g.name for g in user.camera_groups.all())
    record("account.approve", user, {"role": [None, role], "cameras": [None, names]})
    logger.info(kv(event="account_approved", user=user.pk, role=role, cameras=names, by=by.pk))
    return user


@transaction.atomic
def reject_user(user: User, *, by: User) -> None:
    """Refuse a pending account: it is deleted (its name is free again)."""
    if user.approved or user.is_operator:
        raise ValueError("only a pending account can be rejected")
    user_id = user.pk
    record("account.reject", user, deleted({"username": user.username, "email": user.email}))
    user.delete()
    logger.info(kv(event="account_rejected", user=user_id, by=by.pk))


@transaction.atomic
def change_password(user: User, new_password: str) -> User:
    """Set `user`'s password (already validated by the form). Its other sessions end and its
    JWTs stop working: User.set_password records when."""
    user.set_password(new_password)
    user.save(update_fields=["password", "password_changed_at"])
    record("account.password_change", user)
    logger.info(kv(event="password_changed", user=user.pk))
    return user
