"""MJPEG stream and snapshot endpoints through a real daphne, fed through the pipeline's Redis key."""

import http.client
import threading
import time

import cv2
import numpy as np
import pytest
import redis
from django.conf import settings

from cameras.live import BOUNDARY
from cameras.models import Camera
from cameras.naming import preview_key, watchers_key
from tests.support.auth import session_cookie

pytestmark = pytest.mark.django_db(transaction=True)


def jpeg_with(number: int) -> bytes:
    image = np.zeros((120, 160, 3), np.uint8)
    cv2.putText(image, str(number), (40, 80), cv2.FONT_HERSHEY_SIMPLEX, 1.5, (255, 255, 255), 3)
    return cv2.imencode(".jpg", image)[1].tobytes()


def read_parts(port: int, path: str, cookie: str, count: int, timeout: float = 10) -> list[bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    conn.request("GET", path, headers={"Cookie": cookie})
    response = conn.getresponse()
    assert response.status == 200
    assert response.getheader("Content-Type") == f"multipart/x-mixed-replace; boundary={BOUNDARY}"
    parts: list[bytes] = []
    while len(parts) < count:
        line = response.fp.readline()
        if line.startswith(b"Content-Length:"):
            length = int(line.split(b":")[1])
            response.fp.readline()  # blank line after the part headers
            parts.append(response.fp.read(length))
    conn.close()  # the client goes away mid-stream
    return parts


@pytest.fixture
def camera(db):
    return Camera.objects.create(name="Live", url="rtsp://live.local/s", desired_state="running")


def test_mjpeg_streams_distinct_frames_to_logged_in_users(daphne_server, viewer, camera):
    client = redis.Redis.from_url(settings.REDIS_URL)
    stop = threading.Event()

    def feed():  # stands in for the pipeline's preview writer: a new frame every 100 ms
        n = 0
        while not stop.is_set():
            client.set(preview_key(camera.pk), jpeg_with(n), ex=10)
            n += 1
            time.sleep(0.1)

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    try:
        parts = read_parts(
            daphne_server.port,
            f"/cameras/{camera.pk}/live.mjpg",
            f"sessionid={session_cookie(viewer)}",
            4,
        )
    finally:
        stop.set()
        feeder.join()
    assert len(set(parts)) == 4, "every part is a new frame"
    for part in parts:
        assert part.startswith(b"\xff\xd8") and part.endswith(b"\xff\xd9")
        assert cv2.imdecode(np.frombuffer(part, np.uint8), cv2.IMREAD_COLOR).shape == (120, 160, 3)
    assert client.exists(watchers_key(camera.pk)), "the stream tells the pipeline someone watches"


def test_camera_without_frames_gets_a_placeholder_not_a_hang(daphne_server, viewer, camera):
    redis.Redis.from_url(settings.REDIS_URL).delete(preview_key(camera.pk))
    parts = read_parts(
        daphne_server.port,
        f"/cameras/{camera.pk}/live.mjpg",
        f"sessionid={session_cookie(viewer)}",
        1,
        timeout=5,
    )
    image = cv2.imdecode(np.frombuffer(parts[0], np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == (360, 640, 3)


def test_snapshot(daphne_server, viewer, camera):
    client = redis.Redis.from_url(settings.REDIS_URL)
    cookie = f"sessionid={session_cookie(viewer)}"
    conn = http.client.HTTPConnection("127.0.0.1", daphne_server.port, timeout=5)

    client.delete(preview_key(camera.pk))
    conn.request("GET", f"/cameras/{camera.pk}/snapshot.jpg", headers={"Cookie": cookie})
    response = conn.getresponse()
    assert response.status == 503 and b"No frame yet" in response.read()

    client.set(preview_key(camera.pk), jpeg_with(7), ex=10)
    conn.request("GET", f"/cameras/{camera.pk}/snapshot.jpg", headers={"Cookie": cookie})
    response = conn.getresponse()
    assert response.status == 200 and response.read() == jpeg_with(7)

    Camera.objects.filter(pk=camera.pk).update(desired_state="stopped")
    client.delete(preview_key(camera.pk))
    conn.request("GET", f"/cameras/{camera.pk}/snapshot.jpg", headers={"Cookie": cookie})
    response = conn.getresponse()
    assert response.status == 404 and b"stopped" in response.read()

    conn.request("GET", "/cameras/999999/snapshot.jpg", headers={"Cookie": cookie})
    response = conn.getresponse()
    response.read()
    assert response.status == 404


@pytest.mark.parametrize("path", ["/cameras/{id}/live.mjpg", "/cameras/{id}/snapshot.jpg"])
def test_anonymous_is_redirected_to_login(daphne_server, camera, path):
    conn = http.client.HTTPConnection("127.0.0.1", daphne_server.port, timeout=5)
    conn.request("GET", path.format(id=camera.pk))
    response = conn.getresponse()
    assert response.status == 302
    assert "/login" in response.getheader("Location")
