"""Which webhook URLs Skylark may call: http(s) only, and not loopback, link-local or private
addresses (SSRF) unless WEBHOOK_ALLOW_PRIVATE is on. Checked when an endpoint is saved and again
before every delivery, since a name may resolve elsewhere later."""

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError

ALLOWED_SCHEMES = ("http", "https")


def _addresses(host: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return []
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


def refused_address(host: str) -> str | None:
    """Why `host` may not be called (a non-public address), or None if it may."""
    if settings.WEBHOOK_ALLOW_PRIVATE:
        return None
    if host.lower() in ("localhost", "localhost.localdomain") or host.lower().endswith(
        ".localhost"
    ):
        return f"{host} is a loopback name (set WEBHOOK_ALLOW_PRIVATE=1 to allow it)"
    for address in _addresses(host):
        if not address.is_global:
            return (
                f"{host} resolves to the non-public address {address} "
                "(set WEBHOOK_ALLOW_PRIVATE=1 to allow it)"
            )
    return None


def check_webhook_url(url: str) -> None:
    """Raise ValidationError naming the reason if Skylark must not send webhooks to `url`."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise ValidationError(f"not a valid URL: {exc}") from exc
    if parts.scheme not in ALLOWED_SCHEMES:
        raise ValidationError("the URL must start with http:// or https://")
    if not host:
        raise ValidationError("the URL has no host")
    if parts.username or parts.password:
        raise ValidationError("put no credentials in the URL: requests are signed with the secret")
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise ValidationError("the URL contains whitespace or control characters")
    reason = refused_address(host)
    if reason:
        raise ValidationError(reason)
