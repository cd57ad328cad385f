"""Helpers for the security tests: a camera with a password in its URL and an alert with a
snapshot, WebSocket and raw-HTTP clients for daphne (credentials: tests/support/auth.py)."""

import asyncio
import http.client
import json
from dataclasses import dataclass

import pytest

from alerts.services import create_alert
from cameras.models import Camera

CAMERA_PASSWORD = "Sup3rSecret"


@pytest.fixture
def fast_password_hashing(settings):
    """For tests whose users never type a password into a server process: PBKDF2 takes ~0.5 s
    per user, and a login attempt hashes even for unknown users."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def secret_camera(db):
    return Camera.objects.create(
        name="Gate", url=f"rtsp://admin:{CAMERA_PASSWORD}@10.0.0.9:554/live", location="Drive"
    )


@pytest.fixture
def alert_with_snapshot(secret_camera):
    return create_alert(
        camera=secret_camera,
        face_count=1,
        boxes=[[10, 20, 30, 30, 0.9]],
        snapshot_jpeg=b"\xff\xd8\xff\xe0 not really a jpeg \xff\xd9",
    )


async def next_message(ws, timeout: float = 5) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode(errors="replace")


def http_request(
    port: int, method: str, path: str, headers=None, body: bytes | None = None
) -> Answer:
    """One raw HTTP request to a local server: the path is sent exactly as written, redirects are
    not followed, and an endless MJPEG stream is answered by its status and headers alone."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        found = {k.lower(): v for k, v in response.getheaders()}
        streaming = found.get("content-type", "").startswith("multipart/")
        return Answer(response.status, found, b"" if streaming else response.read(1024 * 1024))
    finally:
        conn.close()
