"""The feed across a server restart: the page reconnects, resumes, and shows every alert once."""

import threading
import time
from collections.abc import Iterator

import pytest
from django.db import connection
from playwright.sync_api import expect

from alerts.consumers import REPLAY_LIMIT
from alerts.models import Alert
from alerts.services import create_alert
from cameras.models import Camera
from cameras.views import FEED_SIZE
from tests.support.processes import Daphne, child_env
from tests.support.threads import in_thread

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def camera(db):
    return Camera.objects.create(name="Dock", url="rtsp://dock.local/s", desired_state="running")


class RestartableServer:
    """A daphne that can be stopped and started again on the same port, as a deploy does."""

    def __init__(self, log_dir) -> None:
        self.env = child_env()
        self.current = Daphne(self.env, log_dir).start()

    def stop(self) -> None:
        self.current.stop()

    def start(self) -> None:
        self.current = Daphne(self.env, self.current.log_path.parent, self.current.port).start()


@pytest.fixture
def server(django_db_blocker, process_logs) -> Iterator[RestartableServer]:
    with django_db_blocker.unblock():
        restartable = RestartableServer(process_logs)
    yield restartable
    restartable.stop()


class AlertMaker(threading.Thread):
    """Creates an alert every `every` seconds until stopped, noting which phase each fell in."""

    def __init__(self, camera: Camera, every: float = 0.4) -> None:
        super().__init__(daemon=True)
        self.camera = camera
        self.every = every
        self.phase = "up"
        self.made: list[tuple[str, int]] = []
        self.done = threading.Event()

    def run(self) -> None:
        try:
            while not self.done.is_set():
                alert = create_alert(camera=self.camera, face_count=1, boxes=[])
                self.made.append((self.phase, alert.pk))
                self.done.wait(self.every)
        finally:
            connection.close()


def test_feed_holds_every_alert_once_across_server_restarts(server, viewer, camera, open_page):
    session = open_page(server.current, viewer)
    page = session.page
    page.goto("/", wait_until="domcontentloaded")
    page.evaluate("window.loadedOnce = true")
    indicator = page.locator("#connection")
    expect(indicator).to_have_attribute("data-state", "connected")
    feed_items = page.locator("#alert-feed [data-alert-id]")

    maker = AlertMaker(camera)
    maker.start()
    try:
        expect(feed_items).not_to_have_count(0)
        server.stop()
        maker.phase = "down"
        expect(indicator).to_have_attribute("data-state", "reconnecting")
        expect(indicator).to_have_text("Reconnecting…")
        time.sleep(1.5)
        # The tile's MJPEG stream died with the server: it is asked for again on reconnect.
        with page.expect_request(lambda request: "/live.mjpg" in request.url, timeout=40_000):
            server.start()
            maker.phase = "restarted"
            expect(indicator).to_have_attribute("data-state", "connected", timeout=40_000)
        time.sleep(0.5)
    finally:
        maker.done.set()
        maker.join()

    assert {phase for phase, _ in maker.made} == {"up", "down", "restarted"}
    assert len(maker.made) < FEED_SIZE, "more alerts than the feed keeps: slow the maker down"
    in_db = in_thread(lambda: sorted(Alert.objects.values_list("pk", flat=True)))
    assert in_db == sorted(pk for _, pk in maker.made)
    expect(feed_items).to_have_count(len(in_db))
    shown = feed_items.evaluate_all("items => items.map(item => Number(item.dataset.alertId))")
    assert sorted(shown) == in_db, "every alert exactly once"
    assert shown == sorted(shown, reverse=True), "newest first"

    # Down again while more alerts pile up than the server replays: it answers "resync", and
    # the page reloads the newest alerts from the REST API instead.
    server.stop()
    expect(indicator).to_have_attribute("data-state", "reconnecting")
    in_thread(
        Alert.objects.bulk_create,
        [Alert(camera=camera, face_count=2, boxes=[]) for _ in range(REPLAY_LIMIT + 1)],
    )
    server.start()
    expect(indicator).to_have_attribute("data-state", "connected", timeout=40_000)
    newest = in_thread(
        lambda: list(
            Alert.objects.order_by("-created_at", "-id")[:FEED_SIZE].values_list("pk", flat=True)
        )
    )
    expect(feed_items.first).to_have_attribute("data-alert-id", str(newest[0]))
    shown = feed_items.evaluate_all("items => items.map(item => Number(item.dataset.alertId))")
    assert shown == newest
    assert page.evaluate("window.loadedOnce") is True
    assert session.errors == []
