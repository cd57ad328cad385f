"""MediaMTX's HTTP auth hook, called with the exact JSON MediaMTX sends."""

import json
import uuid

import pytest
from django.core import signing

from cameras.media import whep_url
from cameras.mediamtx import READ_TOKEN_MAX_AGE_S, read_token
from cameras.models import Camera

pytestmark = pytest.mark.django_db

SECRET = "publish-secret-0123456789"


@pytest.fixture(autouse=True)
def _secret(settings):
    settings.MEDIAMTX_PUBLISH_SECRET = SECRET


def mediamtx_request(
    client, *, action, path, user="", password="", token="", protocol="rtsp", query=""
):
    payload = {
        "user": user,
        "password": password,
        "token": token,
        "ip": "127.0.0.1",
        "action": action,
        "path": path,
        "protocol": protocol,
        "id": str(uuid.uuid4()),
        "query": query,
        "userAgent": "Lavf/59.27.100",
    }
    return client.post(
        "/internal/mediamtx/auth", data=json.dumps(payload), content_type="application/json"
    )


def test_publish_needs_the_worker_secret(client, camera):
    path = f"cam{camera.pk}"
    assert mediamtx_request(client, action="publish", path=path).status_code == 401, (
        "asks RTSP for credentials"
    )
    assert (
        mediamtx_request(
            client, action="publish", path=path, user="skylark-worker", password="guess"
        ).status_code
        == 403
    )
    ok = mediamtx_request(
        client, action="publish", path=path, user="skylark-worker", password=SECRET
    )
    assert ok.status_code == 200
    assert (
        mediamtx_request(
            client, action="publish", path="other", user="x", password=SECRET
        ).status_code
        == 403
    )


def test_publish_is_refused_when_no_secret_is_configured(client, camera, settings):
    settings.MEDIAMTX_PUBLISH_SECRET = ""
    assert (
        mediamtx_request(
            client, action="publish", path=f"cam{camera.pk}", password="anything"
        ).status_code
        == 403
    )


def test_read_needs_a_fresh_token_of_a_user_for_that_camera(client, camera, viewer):
    path = f"cam{camera.pk}"
    assert (
        mediamtx_request(client, action="read", path=path, protocol="webrtc").status_code == 401
    ), "anonymous"
    token = read_token(viewer, camera.pk)
    assert (
        mediamtx_request(
            client, action="read", path=path, token=token, protocol="webrtc"
        ).status_code
        == 200
    )
    # The token also works where a browser can only send it as a password.
    assert (
        mediamtx_request(
            client, action="read", path=path, password=token, protocol="hls"
        ).status_code
        == 200
    )
    other = Camera.objects.create(name="Other", url="rtsp://o.local/s")
    assert (
        mediamtx_request(client, action="read", path=f"cam{other.pk}", token=token).status_code
        == 401
    )
    assert mediamtx_request(client, action="read", path=path, token=token + "x").status_code == 401


def test_expired_read_token_is_refused(client, camera, viewer, monkeypatch):
    real_time = signing.time.time
    monkeypatch.setattr(signing.time, "time", lambda: real_time() - READ_TOKEN_MAX_AGE_S - 5)
    token = read_token(viewer, camera.pk)  # signed just over READ_TOKEN_MAX_AGE_S ago
    monkeypatch.undo()
    response = mediamtx_request(
        client, action="read", path=f"cam{camera.pk}", token=token, protocol="webrtc"
    )
    assert response.status_code == 401
    assert b"expired" in response.content


def test_inactive_users_and_other_actions_are_refused(client, camera, viewer):
    token = read_token(viewer, camera.pk)
    viewer.is_active = False
    viewer.save()
    assert (
        mediamtx_request(client, action="read", path=f"cam{camera.pk}", token=token).status_code
        == 401
    )
    for action in ("api", "metrics", "pprof", "playback"):
        assert mediamtx_request(client, action=action, path="", password=SECRET).status_code == 403


def test_malformed_requests_are_400(client):
    assert (
        client.post(
            "/internal/mediamtx/auth", data="{", content_type="application/json"
        ).status_code
        == 400
    )
    assert (
        client.post(
            "/internal/mediamtx/auth", data="[]", content_type="application/json"
        ).status_code
        == 400
    )
    assert client.get("/internal/mediamtx/auth").status_code == 405


def test_whep_url(settings, camera):
    settings.MEDIAMTX_WEBRTC_URL = ""
    assert whep_url(camera.pk) is None
    settings.MEDIAMTX_WEBRTC_URL = "http://media.local:8889/"
    assert whep_url(camera.pk) == f"http://media.local:8889/cam{camera.pk}/whep"
