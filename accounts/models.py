"""The custom user model and its roles."""

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone


class User(AbstractUser):
    """A Skylark user. Operators are staff (or superusers); everyone else is a viewer, once an
    operator has approved the account: until then it is pending, and may log in to see that."""

    # Accounts made by sign-up start unapproved; those an administrator makes (createsuperuser,
    # the demo operator, the admin) are approved from the start.
    approved = models.BooleanField(
        default=True, help_text="Pending accounts can log in but see no camera, alert or video."
    )

    # False: only the cameras of this account's camera groups (cameras.CameraGroup.members).
    all_cameras = models.BooleanField(
        default=True, help_text="Sees every camera; otherwise only those of its camera groups."
    )
    # Tokens issued before this are refused (accounts/authentication.py); sessions made before
    # it end by themselves (Django checks each session's password hash).
    password_changed_at = models.DateTimeField(null=True, blank=True, editable=False)

    def set_password(self, raw_password: str | None) -> None:
        """Every way a password changes comes here: the dashboard, the admin, `manage.py
        changepassword`."""
        super().set_password(raw_password)
        self.password_changed_at = timezone.now()

    # Two-factor: a TOTP secret (base32), in use once confirmed with a code; the last time step
    # a code was accepted for, so a code is good once.
    totp_secret = models.CharField(max_length=64, blank=True, editable=False)
    totp_enabled_at = models.DateTimeField(null=True, blank=True, editable=False)
    totp_last_step = models.BigIntegerField(default=0, editable=False)

    @property
    def has_2fa(self) -> bool:
        return self.totp_enabled_at is not None

    @property
    def is_operator(self) -> bool:
        return self.is_staff or self.is_superuser

    @property
    def role(self) -> str:
        if self.is_operator:
            return "operator"
        return "viewer" if self.approved else "pending"
