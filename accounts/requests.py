"""Request types of views that only logged-in users reach, where `request.user` is a `User`.

Annotations only: `approved_required`, `operator_required` and the API's default IsApproved
permission turn anonymous requests away before such a view runs.
"""

from django.http import HttpRequest
from rest_framework.request import Request

from .models import User


class AuthenticatedHttpRequest(HttpRequest):
    user: User


class AuthenticatedRequest(Request):
    user: User
