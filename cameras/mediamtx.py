"""MediaMTX integration: who may publish or read a camera's stream (its HTTP auth hook).

MediaMTX (authMethod: http) POSTs {user, password, token, ip, action, path, protocol, id, query,
userAgent} to /internal/mediamtx/auth before every publish or read; any 2xx allows it.
- publish: only the workers, which present MEDIAMTX_PUBLISH_SECRET as the RTSP password;
- read: only logged-in dashboard users, through a short-lived signed token that the page sends
  to WHEP as `Authorization: Bearer <token>`, valid for one camera path.
"""

import hmac
import json
import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from accounts.models import User
from accounts.requests import AuthenticatedHttpRequest
from accounts.views import approved_required
from detection.logfmt import kv

from .naming import camera_id_from_stream_path, stream_path
from .selectors import cameras_for_user

logger = logging.getLogger("skylark.mediamtx")

READ_TOKEN_SALT = "skylark.mediamtx.read"  # noqa: S105 - a salt, not a secret
READ_TOKEN_MAX_AGE_S = 120  # long enough to open a WHEP session; a reconnect asks for a new one


def read_token(user: User, camera_id: int) -> str:
    """A token letting `user` read the camera's stream for READ_TOKEN_MAX_AGE_S seconds."""
    return signing.dumps(
        {"u": user.pk, "p": stream_path(camera_id)}, salt=READ_TOKEN_SALT, compress=True
    )


@never_cache
@require_GET
@approved_required(page=False)
def media_token(request: AuthenticatedHttpRequest, camera_id: int) -> JsonResponse:
    """A fresh read token for the page's next WHEP attempt on this camera."""
    camera = get_object_or_404(cameras_for_user(request.user), pk=camera_id)
    return JsonResponse(
        {"token": read_token(request.user, camera.pk), "expires_in": READ_TOKEN_MAX_AGE_S}
    )


def reader_for(token: str, path: str) -> User | None:
    try:
        claims = signing.loads(token, salt=READ_TOKEN_SALT, max_age=READ_TOKEN_MAX_AGE_S)
    except signing.BadSignature:  # includes SignatureExpired
        return None
    if not isinstance(claims, dict) or claims.get("p") != path:
        return None
    user_id = claims.get("u")
    if not isinstance(user_id, int):
        return None
    return get_user_model().objects.filter(pk=user_id, is_active=True).first()


def _decide(request: dict) -> tuple[int, str]:
    action = request.get("action")
    path = request.get("path") or ""
    camera_id = camera_id_from_stream_path(path)
    if action == "publish":
        secret = settings.MEDIAMTX_PUBLISH_SECRET
        password = request.get("password") or ""
        if not password:
            return 401, "credentials required"  # RTSP clients send them only when asked
        if not secret or not hmac.compare_digest(password.encode(), secret.encode()):
            return 403, "bad publish credentials"
        if camera_id is None:
            return 403, "not a camera path"
        return 200, "publish allowed"
    if action == "read":
        token = request.get("token") or request.get("password") or ""
        if not token:
            return 401, "read token required"
        user = reader_for(token, path)
        if user is None:
            return 401, "invalid or expired read token"
        if camera_id is None or not cameras_for_user(user).filter(pk=camera_id).exists():
            return 403, "camera not visible to this user"
        return 200, "read allowed"
    return 403, f"action {str(action)[:20]!r} is not allowed through Skylark"


@csrf_exempt
@require_POST
def auth_hook(request: HttpRequest) -> HttpResponse:
    try:
        payload = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        return HttpResponse("malformed JSON", status=400, content_type="text/plain")
    if not isinstance(payload, dict):
        return HttpResponse("expected a JSON object", status=400, content_type="text/plain")
    status, reason = _decide(payload)
    logger.info(
        kv(
            event="mediamtx_auth",
            action=str(payload.get("action"))[:20],
            path=str(payload.get("path"))[:64],
            protocol=str(payload.get("protocol"))[:10],
            ip=str(payload.get("ip"))[:45],
            status=status,
            reason=reason,
        )
    )
    return HttpResponse(reason, status=status, content_type="text/plain")
