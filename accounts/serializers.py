"""Request and response shapes of the auth API."""

from typing import Any

from rest_framework import serializers
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.serializers import TokenObtainPairSerializer

from . import twofactor
from .models import User


class SignupSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(
        write_only=True, max_length=128, style={"input_type": "password"}
    )
    email = serializers.EmailField(required=False, allow_blank=True, default="")


class UserSerializer(serializers.ModelSerializer):
    role = serializers.CharField(read_only=True)
    email = serializers.CharField(read_only=True)  # may be "", which is not an email address

    class Meta:
        model = User
        fields = ["id", "username", "email", "role", "is_staff", "date_joined"]
        read_only_fields = fields


class LogoutSerializer(serializers.Serializer):
    refresh = serializers.CharField()


class LoginSerializer(TokenObtainPairSerializer):
    """Username and password, and `code` (the 6-digit two-factor code) for accounts that use it."""

    code = serializers.CharField(required=False, allow_blank=True, write_only=True, max_length=8)

    def validate(self, attrs: dict[str, Any]) -> dict[str, str]:
        data = super().validate(attrs)  # checks the password; sets self.user
        user = self.user
        if isinstance(user, User) and user.has_2fa:
            code = attrs.get("code") or ""
            if not code:
                raise AuthenticationFailed("Two-factor code required (send it as `code`).")
            if not twofactor.verify(user, code):
                raise AuthenticationFailed("Wrong or already used two-factor code.")
        return data
