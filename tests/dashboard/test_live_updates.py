"""Status, alerts and Start/Stop reach an open grid page over the WebSocket, without a reload."""

import json
import os
import re
import signal

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from alerts.models import Alert
from alerts.realtime import events_in
from alerts.services import create_alert
from cameras.models import Camera
from cameras.services import record_status
from tests.support.threads import in_thread

from .conftest import astronaut_jpeg

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def camera(db):
    return Camera.objects.create(
        name="Lobby", url="rtsp://lobby.local/s", location="Ground floor", desired_state="running"
    )


def test_status_alerts_and_stop_update_the_open_page(daphne_server, operator, camera, open_page):
    session = open_page(daphne_server, operator)
    page = session.page
    page.goto("/", wait_until="domcontentloaded")
    page.evaluate("window.loadedOnce = true")  # gone if the page reloads
    tile = page.locator(f"#camera-{camera.pk}")
    badge = tile.locator("[data-badge]")
    expect(page.locator("#connection")).to_have_attribute("data-state", "connected")
    expect(badge).to_have_text("Stopped")  # status=stopped until its loop reports

    in_thread(record_status, camera.pk, status="online", fps_in=14.9, fps_out=15.0)
    expect(badge).to_have_text("Online")
    expect(badge).to_have_attribute("data-state", "online")
    expect(tile.locator('[data-field="fps_in"]')).to_have_text("14.9")
    expect(tile.locator('[data-field="fps_out"]')).to_have_text("15.0")

    in_thread(
        record_status, camera.pk, status="offline", last_error="connection refused (rtsp://lobby…)"
    )
    expect(badge).to_have_text("Offline")
    expect(tile.locator('[data-field="last_error"]')).to_have_text(
        "connection refused (rtsp://lobby…)"
    )
    expect(badge).to_have_attribute("title", "connection refused (rtsp://lobby…)")
    in_thread(record_status, camera.pk, status="online", fps_in=15.0, fps_out=15.0)
    expect(tile.locator('[data-field="last_error"]')).to_be_hidden()

    alert = in_thread(
        create_alert,
        camera=camera,
        face_count=2,
        boxes=[[100, 80, 60, 60, 0.9], [300, 90, 58, 58, 0.8]],
        snapshot_jpeg=astronaut_jpeg(),
    )
    item = page.locator(f'#alert-feed [data-alert-id="{alert.pk}"]')
    expect(item).to_contain_text("Lobby")
    expect(item).to_contain_text("2 faces")
    thumbnail = item.locator("img")
    snapshot_url = reverse("alert-snapshot", args=[alert.pk])
    expect(thumbnail).to_have_attribute("src", snapshot_url)
    page.wait_for_function(
        "img => img.complete && img.naturalWidth === 640", arg=thumbnail.element_handle()
    )
    expect(tile.locator("[data-toast]")).to_have_text("2 faces detected")
    expect(tile.locator('[data-field="last_alert"] time')).to_have_attribute(
        "datetime", alert.created_at.isoformat().replace("+00:00", "Z")
    )

    thumbnail.click()
    lightbox = page.locator("#lightbox")
    expect(lightbox).to_be_visible()
    expect(lightbox.locator("img")).to_have_attribute("src", daphne_server.http_url + snapshot_url)
    page.keyboard.press("Escape")
    expect(lightbox).to_be_hidden()

    expect(tile.locator("[data-live]")).to_have_attribute("data-mode", "mjpeg")
    tile.get_by_role("button", name="Stop").click()
    expect(badge).to_have_text("Stopped")
    expect(tile.locator("[data-live]")).to_have_attribute("data-mode", "off")  # stream closed
    expect(tile.get_by_role("button", name="Start")).to_be_visible()
    expect(tile.get_by_role("button", name="Stop")).to_be_hidden()
    assert in_thread(lambda: Camera.objects.get(pk=camera.pk).desired_state) == "stopped"

    assert page.evaluate("window.loadedOnce") is True, "the page was never reloaded"
    assert page.locator("#alert-feed [data-alert-id]").count() == 1
    assert in_thread(Alert.objects.count) == 1
    assert session.errors == []


def test_alerts_that_arrive_in_batch_frames_all_reach_the_page(
    daphne_server, operator, camera, open_page
):
    session = open_page(daphne_server, operator)
    page = session.page
    frames: list[str] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda frame: frames.append(frame)))
    page.goto("/", wait_until="domcontentloaded")
    expect(page.locator("#connection")).to_have_attribute("data-state", "connected")

    # daphne is held still while the alerts are saved, so their events wait for it together
    # and leave in batch frames, as they do under load. How they split into frames depends on
    # how daphne's loop interleaves reading Redis with sending; order and count do not.
    assert daphne_server.proc is not None
    os.kill(daphne_server.proc.pid, signal.SIGSTOP)
    try:
        alerts = [
            in_thread(create_alert, camera=camera, face_count=1, boxes=[[10, 10, 50, 50, 0.9]])
            for _ in range(6)
        ]
    finally:
        os.kill(daphne_server.proc.pid, signal.SIGCONT)

    for alert in alerts:
        expect(page.locator(f'#alert-feed [data-alert-id="{alert.pk}"]')).to_have_count(1)
    received = [json.loads(f) for f in frames if isinstance(f, str)]
    events = [event for message in received for event in events_in(message)]
    assert [e["alert"]["id"] for e in events if e["type"] == "alert"] == [a.pk for a in alerts]
    assert any(m["type"] == "batch" for m in received), [m["type"] for m in received]
    assert session.errors == []


def overlap(a: dict, b: dict) -> float:
    """Area two bounding boxes share, in CSS pixels."""
    width = min(a["x"] + a["width"], b["x"] + b["width"]) - max(a["x"], b["x"])
    height = min(a["y"] + a["height"], b["y"] + b["height"]) - max(a["y"], b["y"])
    return max(width, 0) * max(height, 0)


CLOCK = re.compile(r"(^|, )\d{2}:\d{2}:\d{2}$")  # 24-hour, like the clock burned into the video


def test_status_and_alert_cover_no_video_and_times_read_as_a_24_hour_clock(
    daphne_server, operator, camera, open_page
):
    session = open_page(daphne_server, operator)
    page = session.page
    page.goto("/", wait_until="domcontentloaded")
    expect(page.locator("#connection")).to_have_attribute("data-state", "connected")
    tile = page.locator(f"#camera-{camera.pk}")
    in_thread(record_status, camera.pk, status="online", fps_in=15.0, fps_out=15.0)
    expect(tile.locator("[data-badge]")).to_have_text("Online")
    alert = in_thread(
        create_alert,
        camera=camera,
        face_count=1,
        boxes=[[100, 80, 60, 60, 0.9]],
        snapshot_jpeg=astronaut_jpeg(),
    )
    toast = tile.locator("[data-toast]")
    expect(toast).to_have_text("1 face detected")

    assert "{#" not in tile.inner_text() and "{%" not in tile.inner_text()
    picture = tile.locator("[data-picture]").bounding_box()
    assert picture["width"] > 300 and picture["height"] > 150
    for part in ("[data-badge]", "[data-toast]", "[data-transport]"):
        shown = tile.locator(part).bounding_box()
        assert shown is not None and overlap(shown, picture) == 0, f"{part} covers the video"
        assert shown["y"] >= picture["y"] + picture["height"], f"{part} sits under the video"

    expect(tile.locator('[data-field="last_alert"] time')).to_have_text(CLOCK)
    expect(page.locator(f'#alert-feed [data-alert-id="{alert.pk}"] img')).to_have_attribute(
        "alt", re.compile(r" · \d{2}:\d{2}:\d{2} · ")
    )
    page.goto("/alerts/", wait_until="domcontentloaded")
    expect(page.locator(f'tr[data-alert-id="{alert.pk}"] time')).to_have_text(CLOCK)
    page.goto(f"/cameras/{camera.pk}/", wait_until="domcontentloaded")
    picture = page.locator("[data-picture]").bounding_box()
    badge = page.locator("[data-badge]").bounding_box()
    assert overlap(badge, picture) == 0
    assert session.errors == []
