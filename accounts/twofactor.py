"""Two-factor authentication with TOTP (RFC 6238: the 6-digit codes of authenticator apps).

An account sets it up at /account/2fa/ (a secret, shown as a QR code, confirmed with a code);
from then on the dashboard's login asks for a code after the password, and the API's login
wants `code` beside the password. With REQUIRE_2FA_FOR_OPERATORS, an operator without it may only
watch until it is set up. Each code is accepted once.
"""

import hmac
import logging

import pyotp
import segno
from django.db import transaction
from django.utils import timezone

from detection.logfmt import kv

from .models import User

logger = logging.getLogger("skylark.accounts")
ISSUER = "Skylark"


def new_secret(user: User) -> str:
    """A fresh secret to set up (not in use until confirm() accepts a code from it)."""
    user.totp_secret = pyotp.random_base32()
    user.save(update_fields=["totp_secret"])
    return user.totp_secret


def setup_uri(user: User) -> str:
    return pyotp.TOTP(user.totp_secret).provisioning_uri(name=user.username, issuer_name=ISSUER)


def setup_qr_svg(user: User) -> str:
    return segno.make(setup_uri(user), error="m").svg_inline(scale=4, dark="#e6edf3", light=None)


@transaction.atomic
def verify(user: User, code: str) -> bool:
    """True for a current code of `user`'s secret not used before (the previous and next
    30-second steps are accepted too, for clocks that drift)."""
    locked = User.objects.select_for_update().get(pk=user.pk)
    if not locked.totp_secret:
        return False
    totp = pyotp.TOTP(locked.totp_secret)
    code = code.strip().replace(" ", "")
    now = timezone.now()
    for offset in (-1, 0, 1):
        at = int(now.timestamp()) + offset * totp.interval
        step = int(at // totp.interval)
        if step > locked.totp_last_step and hmac.compare_digest(code, totp.at(at)):
            locked.totp_last_step = step
            locked.save(update_fields=["totp_last_step"])
            user.totp_last_step = step
            return True
    return False


def confirm(user: User, code: str) -> bool:
    """Turn two-factor on, if `code` comes from the secret being set up."""
    if not verify(user, code):
        return False
    user.totp_enabled_at = timezone.now()
    user.save(update_fields=["totp_enabled_at"])
    logger.info(kv(event="2fa_enabled", user=user.pk))
    return True


def disable(user: User) -> None:
    user.totp_secret = ""
    user.totp_enabled_at = None
    user.save(update_fields=["totp_secret", "totp_enabled_at"])
    logger.info(kv(event="2fa_disabled", user=user.pk))
