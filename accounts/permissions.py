"""Role checks for the API: anyone logged in may read, operators may change."""

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView


def is_operator(user) -> bool:
    return bool(user and user.is_authenticated and (user.is_staff or user.is_superuser))


class IsOperator(BasePermission):
    message = "Only operators may do this."

    def has_permission(self, request: Request, view: APIView) -> bool:
        return is_operator(request.user)


class IsOperatorOrReadOnly(BasePermission):
    message = "Only operators may change cameras."

    def has_permission(self, request: Request, view: APIView) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        return request.method in SAFE_METHODS or is_operator(request.user)
