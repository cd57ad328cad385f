"""WebSocket authentication: the dashboard's session cookie, or a JWT for API clients.

A JWT may come as `?token=<access>` (what browsers can send) or an `Authorization: Bearer`
header (what most non-browser clients send). Browsers' cross-site connections are refused by
Origin; clients that send no Origin (non-browsers) still need valid credentials.
"""

from urllib.parse import parse_qs

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.security.websocket import OriginValidator
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import AccessToken

from accounts.authentication import issued_before_password_change
from accounts.permissions import is_approved


class SameHostOriginValidator(OriginValidator):
    """Like AllowedHostsOriginValidator, but a missing Origin (a non-browser client) is allowed."""

    def __init__(self, application) -> None:
        super().__init__(application, settings.ALLOWED_HOSTS or ["localhost"])

    def valid_origin(self, parsed_origin) -> bool:
        if parsed_origin is None:
            return True
        if settings.DEBUG and not settings.ALLOWED_HOSTS:
            return True
        return self.validate_origin(parsed_origin)


def _bearer_token(scope: dict) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            kind, _, token = value.decode("latin-1").partition(" ")
            if kind.lower() == "bearer" and token:
                return token.strip()
    tokens = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token")
    return tokens[0] if tokens else None


@database_sync_to_async
def _user_for(token: AccessToken):
    """The token's active user, unless the token is older than the user's password."""
    user = get_user_model().objects.filter(pk=token["user_id"], is_active=True).first()
    if user is None or issued_before_password_change(user, token):
        return None
    return user


class JWTAuthMiddleware:
    """Sets scope["user"] from a JWT when the session did not authenticate the client."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        user = scope.get("user")
        if (user is None or not user.is_authenticated) and (raw := _bearer_token(scope)):
            try:
                # simplejwt annotates the encoded token as a Token; it is the string it decodes.
                token = AccessToken(raw)  # type: ignore[arg-type]
            except TokenError:
                token = None
            if token is not None and (found := await _user_for(token)) is not None:
                scope = {**scope, "user": found, "token_expires_at": float(token["exp"])}
        if not is_approved(scope.get("user")):
            # Anonymous, or waiting for approval: the consumer refuses the handshake.
            scope = {**scope, "user": AnonymousUser()}
        return await self.app(scope, receive, send)


def websocket_auth_stack(app):
    return SameHostOriginValidator(AuthMiddlewareStack(JWTAuthMiddleware(app)))
