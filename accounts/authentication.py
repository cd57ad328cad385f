"""JWTs stop working when their user's password changes: access and refresh tokens alike, over
HTTP and the WebSocket. (Sessions need nothing: Django ends them by itself.)"""

from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.serializers import TokenRefreshSerializer
from rest_framework_simplejwt.tokens import RefreshToken, Token

from .models import User

OUTDATED = "This token was issued before the password changed; log in again."


def issued_before_password_change(user: User, token: Token) -> bool:
    changed = user.password_changed_at
    # iat is whole seconds: a token from the second of the change is still taken.
    return changed is not None and int(token.get("iat", 0)) < int(changed.timestamp())


class PasswordAwareJWTAuthentication(JWTAuthentication):
    # simplejwt types get_user with a TypeVar bound to nothing it is given; users are Users here.
    def get_user(self, validated_token: Token) -> AbstractBaseUser:  # type: ignore[override]
        user = super().get_user(validated_token)
        if isinstance(user, User) and issued_before_password_change(user, validated_token):
            raise AuthenticationFailed(OUTDATED, code="token_outdated")
        return user


class RefreshSerializer(TokenRefreshSerializer):
    def validate(self, attrs: dict[str, Any]) -> dict[str, str]:
        token = RefreshToken(attrs["refresh"])
        user = User.objects.filter(pk=token.get("user_id")).first()
        if user is not None and issued_before_password_change(user, token):
            raise AuthenticationFailed(OUTDATED, code="token_outdated")
        return super().validate(attrs)
