"""Credentials of a test user: a JWT for the API and WebSockets, a session for the dashboard."""

from datetime import timedelta

from django.test import Client
from rest_framework_simplejwt.tokens import AccessToken


def access_token(user, lifetime: timedelta | None = None) -> str:
    """A JWT access token for `user`; `lifetime` from now instead of the configured one."""
    token = AccessToken.for_user(user)
    if lifetime is not None:
        token.set_exp(lifetime=lifetime)
    return str(token)


def session_cookie(user) -> str:
    """The value of a `sessionid` cookie for `user` (the session row is in the test database)."""
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value
