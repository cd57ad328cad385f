"""End to end in the browser: a simulated RTSP camera, a real Celery worker running its loop, and
the grid page showing it come online, its MJPEG picture moving, and a pipeline-made alert."""

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from alerts.models import Alert
from cameras.models import Camera
from simulator.control import CameraSimulator
from simulator.videos import FaceSpan, ensure_video
from tests.support.processes import CeleryWorker, child_env
from tests.support.threads import in_thread

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]

# The picture the <img> shows now, as a data URL: the MJPEG stream's current frame.
CURRENT_FRAME = """img => {
  const canvas = document.createElement('canvas');
  canvas.width = img.naturalWidth;
  canvas.height = img.naturalHeight;
  canvas.getContext('2d').drawImage(img, 0, 0);
  return canvas.toDataURL('image/jpeg');
}"""


@pytest.fixture(scope="module")
def face_video() -> Path:
    """360p, a face for 6 s of every 10 (the simulator loops it); generated once, then cached."""
    spans = [FaceSpan(1, 7), FaceSpan(11, 17)]
    return ensure_video("dashboard-e2e", spans, 20.0, width=640, height=360, face_size=110)


@pytest.fixture
def simulator(face_video) -> Iterator[CameraSimulator]:
    with CameraSimulator({"entrance": face_video}) as cameras:
        yield cameras


@pytest.fixture
def worker(django_db_blocker, process_logs) -> Iterator[CeleryWorker]:
    with django_db_blocker.unblock():
        started = CeleryWorker(child_env(), process_logs, concurrency=2).start()
    yield started
    started.stop()


def frame_of(page: Page, img) -> str:
    return page.evaluate(CURRENT_FRAME, img.element_handle())


def test_grid_shows_a_real_camera_loop(daphne_server, worker, simulator, operator, open_page):
    camera = in_thread(
        Camera.objects.create,
        name="Entrance",
        url=simulator.url("entrance"),
        location="Lobby door",
        interval_ms=250,
        cooldown_s=1.5,
    )
    session = open_page(daphne_server, operator)
    page = session.page
    page.goto("/", wait_until="domcontentloaded")
    tile = page.locator(f"#camera-{camera.pk}")
    badge = tile.locator("[data-badge]")
    expect(page.locator("#connection")).to_have_attribute("data-state", "connected")
    expect(badge).to_have_text("Stopped")

    tile.get_by_role("button", name="Start").click()
    expect(badge).to_have_text("Online", timeout=20_000)
    fps_in = tile.locator('[data-field="fps_in"]')
    expect(fps_in).not_to_have_text("0.0")

    img = tile.locator("[data-live] img")
    expect(tile.locator("[data-transport]")).to_have_text("MJPEG")
    page.wait_for_function("img => img.naturalWidth === 640", arg=img.element_handle())
    first = frame_of(page, img)
    page.wait_for_timeout(1000)
    assert frame_of(page, img) != first, "the MJPEG picture moves"

    feed_item = page.locator("#alert-feed [data-alert-id]").first
    expect(feed_item).to_contain_text("Entrance", timeout=20_000)
    expect(feed_item).to_contain_text("1 face")
    expect(tile.locator("[data-toast]")).to_contain_text("1 face detected")
    alert_id = int(feed_item.get_attribute("data-alert-id"))
    alert = in_thread(Alert.objects.get, pk=alert_id)
    assert alert.camera_id == camera.pk and alert.snapshot, "made by the pipeline, with a picture"
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=feed_item.locator("img").element_handle()
    )

    tile.get_by_role("button", name="Stop").click()
    expect(badge).to_have_text("Stopped")
    expect(tile.locator("[data-live]")).to_have_attribute("data-mode", "off")
    assert in_thread(wait_for_status, camera.pk, "stopped"), "the loop saw it and reported stopped"
    assert session.errors == []


def wait_for_status(camera_id: int, status: str, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if Camera.objects.get(pk=camera_id).status == status:
            return True
        time.sleep(0.2)
    return False
