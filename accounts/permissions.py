"""Role checks for the API: approved accounts may read, operators may change; an account that
waits for approval gets nothing but its own /api/auth/me."""

from typing import TYPE_CHECKING

from django.conf import settings
from rest_framework.permissions import SAFE_METHODS, BasePermission

if TYPE_CHECKING:  # DRF imports its default permission class while rest_framework.views loads
    from rest_framework.request import Request
    from rest_framework.views import APIView


def is_operator(user) -> bool:
    return bool(user and user.is_authenticated and (user.is_staff or user.is_superuser))


def is_approved(user) -> bool:
    """Logged in, and not waiting for an operator's approval."""
    return bool(user and user.is_authenticated and (user.approved or is_operator(user)))


PENDING_MESSAGE = "This account waits for an operator's approval."
SETUP_2FA_MESSAGE = "Operators must set up two-factor authentication first (/account/2fa/)."


def needs_2fa_setup(user) -> bool:
    """An operator whom the installation requires to use two-factor, and who does not yet: it
    may watch, not change anything, until it has set it up."""
    return bool(settings.REQUIRE_2FA_FOR_OPERATORS and is_operator(user) and not user.has_2fa)


class IsApproved(BasePermission):
    """The API's default: logged in and approved."""

    message = PENDING_MESSAGE

    def has_permission(self, request: "Request", view: "APIView") -> bool:
        return is_approved(request.user)


class IsOperator(BasePermission):
    message = "Only operators may do this."

    def has_permission(self, request: "Request", view: "APIView") -> bool:
        if needs_2fa_setup(request.user):
            self.message = SETUP_2FA_MESSAGE
            return False
        return is_operator(request.user)


class IsOperatorOrReadOnly(BasePermission):
    message = "Only operators may change cameras."

    def has_permission(self, request: "Request", view: "APIView") -> bool:
        if not is_approved(request.user):
            self.message = PENDING_MESSAGE  # DRF answers 401 instead to anonymous clients
            return False
        if request.method in SAFE_METHODS:
            return True
        if needs_2fa_setup(request.user):
            self.message = SETUP_2FA_MESSAGE
            return False
        return is_operator(request.user)
