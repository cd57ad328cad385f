"""camera.offline and camera.online: a running camera not online for CAMERA_OFFLINE_AFTER_S gets
one event however many reconnect attempts it makes, and one when it is back; a stopped camera
gets none."""

from datetime import timedelta

import pytest
from django.utils import timezone

from cameras.models import Camera
from cameras.naming import lease_key
from cameras.services import record_status, start_stream, stop_stream
from config.redis import get_redis
from events import services
from events.models import Event

pytestmark = pytest.mark.django_db

AFTER_S = 30


@pytest.fixture(autouse=True)
def _offline_after(settings):
    settings.CAMERA_OFFLINE_AFTER_S = AFTER_S


@pytest.fixture
def running(camera):
    """A running camera with a live loop: the loop's lease is held."""
    Camera.objects.filter(pk=camera.pk).update(desired_state="running", status="online")
    get_redis().set(lease_key(camera.pk), "a loop", px=60_000)
    yield camera
    get_redis().delete(lease_key(camera.pk))


def later(seconds: float):
    return timezone.now() + timedelta(seconds=seconds)


def camera_events() -> list[tuple[str, int]]:
    return list(Event.objects.order_by("id").values_list("type", "camera_id"))


def test_one_offline_event_per_outage_and_one_when_back(running, endpoint, receiver):
    record_status(running.pk, status="offline", last_error="connection refused (rtsp://…)")
    for status in ("connecting", "offline", "connecting", "error", "offline"):  # reconnecting
        record_status(running.pk, status=status)

    assert services.check_camera_availability(later(AFTER_S - 5)) == []
    assert services.check_camera_availability(later(AFTER_S + 1)) == [running.pk]
    assert services.check_camera_availability(later(AFTER_S + 20)) == []
    record_status(running.pk, status="online")
    record_status(running.pk, status="online")
    services.deliver_pending(endpoint.pk)

    assert camera_events() == [("camera.offline", running.pk), ("camera.online", running.pk)]
    offline, online = receiver.events()
    assert (offline["type"], online["type"]) == ("camera.offline", "camera.online")
    assert offline["data"]["camera"] == {"id": running.pk, "name": "Front door", "location": "Hall"}
    assert offline["data"]["status"] == "offline"
    assert offline["data"]["down_for_s"] >= AFTER_S
    assert online["data"]["down_since"] == offline["data"]["down_since"]
    assert "s3cret" not in str(receiver.events())  # never the camera URL


def test_a_short_outage_sends_nothing(running, endpoint):
    record_status(running.pk, status="offline")
    services.check_camera_availability(later(AFTER_S - 1))
    record_status(running.pk, status="online")
    assert services.check_camera_availability(later(AFTER_S + 60)) == []
    assert camera_events() == []


def test_each_outage_counts_from_its_own_start(running, endpoint):
    record_status(running.pk, status="offline")
    services.check_camera_availability(later(AFTER_S + 1))
    record_status(running.pk, status="online")
    record_status(running.pk, status="offline")  # down again

    assert services.check_camera_availability(later(AFTER_S - 1)) == []
    assert services.check_camera_availability(later(AFTER_S + 1)) == [running.pk]
    assert [t for t, _ in camera_events()] == ["camera.offline", "camera.online", "camera.offline"]


def test_a_stopped_camera_is_never_announced(camera, endpoint):
    record_status(camera.pk, status="offline")
    assert services.check_camera_availability(later(AFTER_S * 10)) == []
    assert camera_events() == []


def test_stopping_an_offline_camera_ends_the_count(running, endpoint):
    record_status(running.pk, status="offline")
    stop_stream(running)
    record_status(running.pk, status="stopped")
    assert services.check_camera_availability(later(AFTER_S + 1)) == []


def test_a_started_camera_that_never_connects_is_announced(camera, endpoint):
    start_stream(camera)  # `connecting`, set directly rather than reported by a loop
    assert services.check_camera_availability(timezone.now()) == []  # the count starts here
    assert services.check_camera_availability(later(AFTER_S + 1)) == [camera.pk]
    assert camera_events() == [("camera.offline", camera.pk)]


def test_an_announced_camera_that_was_deleted_is_forgotten(running, endpoint):
    record_status(running.pk, status="offline")
    services.check_camera_availability(later(AFTER_S + 1))
    running.delete()
    assert services.check_camera_availability(later(AFTER_S + 60)) == []
    assert Event.objects.get().camera_id is None  # the event stays, without its camera


def test_a_camera_whose_loop_died_is_announced_though_it_still_says_online(running, endpoint):
    get_redis().delete(lease_key(running.pk))  # its streams worker was killed: no lease renewed

    assert services.check_camera_availability(timezone.now()) == []
    assert services.check_camera_availability(later(AFTER_S + 1)) == [running.pk]

    event = Event.objects.get()
    assert (event.type, event.data["status"]) == ("camera.offline", "offline")
    assert "no detection loop" in event.data["last_error"]
    record_status(running.pk, status="online")  # a new loop reports in
    assert [t for t, _ in camera_events()] == ["camera.offline", "camera.online"]


def test_a_loop_back_within_the_delay_sends_nothing(running, endpoint):
    get_redis().delete(lease_key(running.pk))
    services.check_camera_availability(timezone.now())
    get_redis().set(lease_key(running.pk), "another loop", px=60_000)
    record_status(running.pk, status="online")  # the new loop's first report

    assert services.check_camera_availability(later(AFTER_S + 1)) == []
    assert camera_events() == []
