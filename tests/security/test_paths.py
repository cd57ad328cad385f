"""No path traversal through ids or file names: snapshots, MJPEG, camera pages, static and media.

Odd ids (`..`, encoded dots, NUL, huge and negative numbers) are sent raw through a real daphne by
a logged-in operator: each is a plain 404, never a 5xx and never a file's content. Skylark has no
upload endpoint: snapshot files are written by the worker under a generated name.
"""

import pytest
import redis
from django.conf import settings

from alerts.models import Alert
from cameras.naming import preview_key
from tests.support.auth import access_token, session_cookie

from .conftest import http_request

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("fast_password_hashing"),
]

ODD_IDS = [
    "..",
    "../..",
    "%2e%2e",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "..%252f..%252fetc%252fpasswd",
    "..%5c..%5cetc%5cpasswd",
    "1%00",
    "1;.jpg",
    "1.0",
    "0x1",
    "-1",
    "0",
    "99999999999999999999999999",
    str(2**63),
]
ENDPOINTS = {
    "alert snapshot (API)": ("/api/alerts/{id}/snapshot", "jwt"),
    "alert (API)": ("/api/alerts/{id}/", "jwt"),
    "camera (API)": ("/api/cameras/{id}/", "jwt"),
    "MJPEG stream": ("/cameras/{id}/live.mjpg", "session"),
    "live snapshot": ("/cameras/{id}/snapshot.jpg", "session"),
    "camera page": ("/cameras/{id}/", "session"),
}
LEAKS = [b"root:x:0:0", b"SECRET_KEY", b"Traceback"]


def get(port: int, path: str, headers: dict) -> tuple[int, bytes]:
    answer = http_request(port, "GET", path, headers)
    return answer.status, answer.body


@pytest.fixture
def credentials(operator):
    return {
        "jwt": {"Authorization": f"Bearer {access_token(operator)}"},
        "session": {"Cookie": f"sessionid={session_cookie(operator)}"},
    }


@pytest.mark.parametrize("template,auth", ENDPOINTS.values(), ids=ENDPOINTS.keys())
def test_odd_ids_are_a_plain_404(daphne_server, credentials, alert_with_snapshot, template, auth):
    redis.Redis.from_url(settings.REDIS_URL).set(
        preview_key(alert_with_snapshot.camera_id), b"\xff\xd8frame\xff\xd9", ex=30
    )
    answers = {}
    for odd in ODD_IDS:
        status, body = get(daphne_server.port, template.format(id=odd), credentials[auth])
        answers[odd] = status
        assert not any(leak in body for leak in LEAKS), (odd, body[:200])
    assert answers == dict.fromkeys(ODD_IDS, 404)
    # The same endpoint with the real id works: the 404s are about the ids.
    real_id = alert_with_snapshot.pk if "alert" in template else alert_with_snapshot.camera_id
    real = template.format(id=real_id)
    assert get(daphne_server.port, real, credentials[auth])[0] == 200


def test_a_snapshot_name_pointing_outside_media_is_never_served(
    daphne_server, credentials, alert_with_snapshot
):
    # Only the worker names snapshot files; if a row were tampered with, the file is still refused.
    Alert.objects.filter(pk=alert_with_snapshot.pk).update(snapshot="../../../../../etc/passwd")
    status, body = get(
        daphne_server.port, f"/api/alerts/{alert_with_snapshot.pk}/snapshot", credentials["jwt"]
    )
    assert status in (400, 404)
    assert b"root:x:0:0" not in body


@pytest.mark.parametrize(
    "path",
    [
        "/media-not-served/{snapshot}",
        "/media/{snapshot}",
        "/static/../config/settings.py",
        "/static/%2e%2e/config/settings.py",
        "/static/..%2fconfig%2fsettings.py",
        "/static/skylark/../../config/settings.py",
        "/static//etc/passwd",
    ],
)
def test_files_are_not_reachable_by_path(daphne_server, credentials, alert_with_snapshot, path):
    status, body = get(
        daphne_server.port,
        path.format(snapshot=alert_with_snapshot.snapshot.name),
        credentials["session"],
    )
    assert status == 404
    assert not any(leak in body for leak in LEAKS)
    assert b"\xff\xd8" not in body, "snapshots are served only through the authenticated view"
