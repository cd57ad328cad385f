"""Live video in the browser: WebRTC through a real WHEP endpoint (aiortc), MJPEG when it fails."""

import re

import pytest
from playwright.sync_api import expect

from cameras.mediamtx import reader_for
from cameras.models import Camera
from cameras.naming import stream_path
from tests.support.threads import in_thread
from tests.support.whep import HEIGHT, WIDTH

pytestmark = pytest.mark.django_db(transaction=True)

VIDEO_STATE = (
    "v => ({ready: v.readyState, width: v.videoWidth, height: v.videoHeight, time: v.currentTime})"
)


@pytest.fixture
def camera(db):
    return Camera.objects.create(name="Gate", url="rtsp://gate.local/s", desired_state="running")


def test_webrtc_plays_then_falls_back_to_mjpeg_and_recovers(
    webrtc_server, whep, viewer, camera, open_page
):
    whep.start()
    session = open_page(webrtc_server, viewer)
    page = session.page
    page.goto(f"/cameras/{camera.pk}/", wait_until="domcontentloaded")
    live = page.locator("[data-live]")
    transport = live.locator("[data-transport]")
    video, img = live.locator("video"), live.locator("img")

    expect(transport).to_have_text("WebRTC", timeout=30_000)
    offer = whep.wait_for("POST")
    assert offer.path == f"/{stream_path(camera.pk)}/whep"
    assert offer.headers["content-type"] == "application/sdp"
    # The page fetched a read token that MediaMTX's auth hook accepts for this viewer and camera.
    scheme, token = offer.headers["authorization"].split(" ", 1)
    assert scheme == "Bearer" and in_thread(reader_for, token, stream_path(camera.pk)) == viewer
    assert offer.headers["origin"] == webrtc_server.http_url
    first = video.evaluate(VIDEO_STATE)
    assert first["ready"] >= 2 and (first["width"], first["height"]) == (WIDTH, HEIGHT)
    page.wait_for_timeout(1000)
    assert video.evaluate(VIDEO_STATE)["time"] > first["time"] + 0.5, "the video plays on"
    expect(img).to_be_hidden()

    # MediaMTX goes away mid-stream: the tile switches to MJPEG by itself.
    whep.stop()
    expect(transport).to_have_text("MJPEG", timeout=20_000)
    expect(img).to_be_visible()
    # (?reopened=… when the first MJPEG request failed and the tile asked again)
    expect(img).to_have_attribute(
        "src", re.compile(rf"^/cameras/{camera.pk}/live\.mjpg(\?reopened=\d+)?$")
    )

    # A fresh page while the WHEP endpoint refuses connections: MJPEG straight away.
    page.reload(wait_until="domcontentloaded")
    expect(transport).to_have_text("MJPEG")
    page.wait_for_function("img => img.naturalWidth > 0", arg=img.element_handle(), timeout=10_000)

    # MediaMTX is back: the tile returns to WebRTC on its own.
    whep.start()
    expect(transport).to_have_text("WebRTC", timeout=20_000)
    expect(img).to_be_hidden()
    assert len(whep.sessions) == 1

    # Leaving the page ends the WHEP session (DELETE on its Location).
    page.goto("/alerts/")
    delete = whep.wait_for("DELETE")
    assert delete.path.startswith(f"/{stream_path(camera.pk)}/whep/")
    assert whep.wait_until(lambda: not whep.sessions)
    assert session.errors == []
