"""Screenshots of the main pages with realistic data, for the README and for eyeballing the UI.

Saved to $SKYLARK_SCREENSHOTS when set (`make screenshots` sets docs/screenshots), else to the
test's tmp dir.
"""

import os
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest
import redis
from django.conf import settings
from django.utils import timezone
from playwright.sync_api import Page, expect

from alerts.services import acknowledge_alert, create_alert
from cameras.models import Camera
from cameras.naming import preview_key
from cameras.services import record_status
from tests.support.threads import in_thread

from .conftest import ASSETS, astronaut_jpeg

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def site(operator) -> dict[str, Camera]:
    """Cameras in every state, and an hour of alerts with real snapshots."""
    cameras = {
        "front": Camera.objects.create(
            name="Front door", url="rtsp://admin:s3cret@10.0.0.5/stream1", location="Main entrance"
        ),
        "bay": Camera.objects.create(
            name="Loading bay", url="rtsp://10.0.0.6/live", location="Warehouse, north side"
        ),
        "parking": Camera.objects.create(
            name="Parking lot", url="rtsp://10.0.0.7/live", location="Visitor parking"
        ),
        "lobby": Camera.objects.create(name="Lobby", url="rtsp://10.0.0.8/live", location="Hall"),
    }
    for key in ("front", "bay", "parking"):
        Camera.objects.filter(pk=cameras[key].pk).update(desired_state="running")
    record_status(cameras["front"].pk, status="online", fps_in=15.0, fps_out=14.8)
    record_status(cameras["bay"].pk, status="online", fps_in=12.5, fps_out=12.5)
    record_status(
        cameras["parking"].pk,
        status="offline",
        last_error="connection refused (rtsp://10.0.0.7…)",
    )
    snapshot = astronaut_jpeg()
    now = timezone.now()
    for minutes, key, count in [(55, "bay", 1), (41, "front", 1), (23, "bay", 2), (9, "front", 1)]:
        alert = create_alert(
            camera=cameras[key],
            face_count=count,
            boxes=[],
            snapshot_jpeg=snapshot,
            created_at=now - timedelta(minutes=minutes),
        )
        if minutes > 30:
            acknowledge_alert(alert, operator)
    return cameras


def camera_frame(image: np.ndarray) -> bytes:
    """A frame as a camera's on-screen display would show it: the picture with a clock."""
    frame = image.copy()
    stamp = timezone.now().strftime("%Y-%m-%d %H:%M:%S")
    cv2.putText(frame, stamp, (12, 345), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255), 1)
    return cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes()


def night_scene() -> np.ndarray:
    """A dim yard with the portrait small at the side, as a second camera might see it."""
    scene = (cv2.resize(cv2.imread(str(ASSETS / "grass.jpg")), (640, 360)) * 0.45).astype(np.uint8)
    portrait = cv2.resize(cv2.imread(str(ASSETS / "astronaut.jpg")), (200, 200))
    scene[120:320, 400:600] = portrait
    cv2.rectangle(scene, (469, 143), (506, 180), (0, 220, 0), 2)
    return scene


@pytest.fixture
def live_previews(site) -> Iterator[None]:
    """Stands in for the pipeline's preview writer, so the tiles show moving pictures."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    front = cv2.imdecode(np.frombuffer(astronaut_jpeg(), np.uint8), cv2.IMREAD_COLOR)
    bay = night_scene()
    stop = threading.Event()

    def feed() -> None:
        while not stop.is_set():
            client.set(preview_key(site["front"].pk), camera_frame(front), ex=5)
            client.set(preview_key(site["bay"].pk), camera_frame(bay), ex=5)
            stop.wait(0.2)

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    yield
    stop.set()
    feeder.join()


@pytest.fixture
def shots(tmp_path) -> Path:
    folder = Path(os.environ.get("SKYLARK_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def wait_until_live(page: Page, tiles: int) -> None:
    expect(page.locator("#connection")).to_have_attribute("data-state", "connected")
    page.wait_for_function(
        "n => [...document.querySelectorAll('.live img')].filter(i => i.naturalWidth > 0).length >= n",
        arg=tiles,
    )


def test_screenshots_of_the_main_pages(
    daphne_server, operator, site, live_previews, shots, open_page
):
    session = open_page(daphne_server, operator)
    page = session.page

    page.goto("/", wait_until="domcontentloaded")
    wait_until_live(page, tiles=3)
    in_thread(
        create_alert,
        camera=site["front"],
        face_count=1,
        boxes=[],
        snapshot_jpeg=astronaut_jpeg(),
    )
    expect(page.locator(f"#camera-{site['front'].pk} [data-toast]")).to_be_visible()
    page.wait_for_function(
        "[...document.querySelectorAll('#alert-feed img')].every(i => i.complete)"
    )
    page.wait_for_timeout(400)  # the toast's entrance animation
    page.screenshot(path=shots / "grid.png")

    page.goto(f"/cameras/{site['front'].pk}/", wait_until="domcontentloaded")
    wait_until_live(page, tiles=1)
    page.screenshot(path=shots / "camera.png")

    page.goto("/alerts/")
    page.wait_for_function("[...document.images].every(i => i.complete)")
    page.screenshot(path=shots / "alerts.png")

    page.goto("/cameras/new/")
    page.get_by_label("Name").fill("Back yard")
    page.get_by_label("URL", exact=True).fill("ftp://10.0.0.9/stream")
    page.get_by_role("button", name="Add camera").click()
    expect(page.locator("#id_url_error")).to_be_visible()
    page.screenshot(path=shots / "camera-form.png", full_page=True)

    phone = open_page(daphne_server, operator, viewport=PHONE)
    phone.page.goto("/", wait_until="domcontentloaded")
    wait_until_live(phone.page, tiles=3)
    phone.page.screenshot(path=shots / "grid-phone.png", full_page=True)

    signed_out = open_page(daphne_server)
    signed_out.page.goto("/login/")
    signed_out.page.screenshot(path=shots / "login.png")
    signed_out.page.goto("/signup/")
    signed_out.page.screenshot(path=shots / "signup.png")

    assert {p.name for p in shots.glob("*.png")} >= {
        "grid.png",
        "camera.png",
        "alerts.png",
        "camera-form.png",
        "grid-phone.png",
        "login.png",
        "signup.png",
    }
    assert session.errors == phone.errors == []
