"""A camera that goes dark, and comes back, shows in the open page's feed as its own kind of item
(camera.offline / camera.online over the WebSocket), between the alerts."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from alerts.services import create_alert
from cameras.models import Camera
from cameras.naming import lease_key
from cameras.services import record_status
from config.redis import get_redis
from events import services
from tests.support.threads import in_thread

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def camera(db):
    camera = Camera.objects.create(
        name="Lobby", url="rtsp://lobby.local/s", desired_state="running", status="online"
    )
    get_redis().set(lease_key(camera.pk), "a loop", px=120_000)
    yield camera
    get_redis().delete(lease_key(camera.pk))


def go_offline(camera_id: int) -> None:
    record_status(camera_id, status="offline", last_error="connection refused (rtsp://lobby…)")
    services.check_camera_availability(timezone.now() + timedelta(seconds=60))


def test_an_outage_and_the_return_show_in_the_feed(daphne_server, viewer, camera, open_page):
    session = open_page(daphne_server, viewer)
    page = session.page
    page.goto("/", wait_until="domcontentloaded")
    expect(page.locator("#connection")).to_have_attribute("data-state", "connected")
    alert = in_thread(create_alert, camera=camera, face_count=1, boxes=[])
    expect(page.locator(f'#alert-feed [data-alert-id="{alert.pk}"]')).to_be_visible()

    in_thread(go_offline, camera.pk)

    offline = page.locator("#alert-feed .feed-outage.is-offline")
    expect(offline).to_contain_text("Lobby")
    expect(offline).to_contain_text("Camera offline")
    expect(offline.locator(".outage")).to_have_attribute(
        "title", "connection refused (rtsp://lobby…)"
    )
    in_thread(record_status, camera.pk, status="online")
    online = page.locator("#alert-feed .feed-outage.is-online")
    expect(online).to_contain_text("Back online")

    items = page.locator("#alert-feed > li")
    expect(items).to_have_count(3)  # newest first: back online, offline, the alert
    assert "is-online" in (items.nth(0).get_attribute("class") or "")
    assert "is-offline" in (items.nth(1).get_attribute("class") or "")
    assert items.nth(2).get_attribute("data-alert-id") == str(alert.pk)
    assert session.errors == []
