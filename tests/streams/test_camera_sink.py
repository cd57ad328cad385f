"""CameraSink, the loop's way into Skylark, against the real PostgreSQL and Redis."""

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from alerts.models import Alert
from cameras.models import Camera
from cameras.naming import lease_key
from config.redis import get_redis
from detection.lease import Lease, LeaseKeeper
from detection.pipeline import AlertEvent, StatusReport
from detection.tasks import CameraSink

pytestmark = pytest.mark.django_db(transaction=True)


def event(camera_id: int, faces: int, snapshot: bytes = b"") -> AlertEvent:
    return AlertEvent(
        camera_id=camera_id,
        at=time.time(),
        face_count=faces,
        boxes=[[1, 2, 50, 50, 0.9]] * faces,
        snapshot_jpeg=snapshot,
    )


@contextmanager
def loop_sink(camera: Camera) -> Iterator[CameraSink]:
    """The sink of a loop that holds the camera's lease, as run_camera builds it."""
    lease = Lease(get_redis(), lease_key(camera.pk), ttl_ms=6000)
    assert lease.acquire()
    keeper = LeaseKeeper(lease)
    keeper.start()
    try:
        yield CameraSink(camera, keeper, get_redis())
    finally:
        keeper.stop()
        lease.release()


@pytest.fixture
def sink():
    camera = Camera.objects.create(name="Door", url="rtsp://cam.local/stream", status="online")
    with loop_sink(camera) as sink:
        yield sink


def test_an_alert_the_database_refuses_is_dropped_and_does_not_hold_back_the_next(
    sink, caplog, settings
):
    before = set(Path(settings.MEDIA_ROOT).rglob("*.jpg"))
    Camera.objects.filter(pk=sink.camera_id).delete()
    sink.on_alert(event(sink.camera_id, faces=1, snapshot=b"\xff\xd8refused\xff\xd9"))
    sink.on_alert(event(sink.camera_id, faces=2))
    assert not sink.pending, "refused alerts were kept for ever"
    assert caplog.text.count(f"event=alert_dropped camera={sink.camera_id} ") == 2
    assert not Alert.objects.exists()
    # The file is written before the INSERT the database refuses, and deleted after it.
    assert set(Path(settings.MEDIA_ROOT).rglob("*.jpg")) == before, "a refused alert left its file"


def test_a_loop_that_lost_its_lease_writes_no_status(sink):
    get_redis().set(lease_key(sink.camera_id), "another loop's token")
    deadline = time.monotonic() + 5
    while not sink.keeper.lost and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sink.keeper.lost
    assert sink.should_stop() and sink.stop_reason == "lease lost"
    sink.on_status(
        StatusReport(status="stopped", error="", fps_in=0, fps_out=0, frames_dropped=0,
                     last_frame_at=None, reconnects=0, publish_state="off", publish_error="")
    )  # fmt: skip
    assert Camera.objects.get(pk=sink.camera_id).status == "online"


@pytest.mark.parametrize(
    "change,restarts",
    [
        ({"location": "Garden"}, False),
        ({"location": "Garden", "interval_ms": 1000}, False),  # interval_ms as it was
        ({"interval_ms": 500}, True),
        ({"name": "Gate"}, True),  # its alerts carry the name
        ({"motion_gating": False}, True),
        ({"video_mode": "original"}, True),
        ({"detect_url": "rtsp://cam.local/sub"}, True),
    ],
)
def test_an_edit_restarts_a_running_loop_only_when_the_pipeline_uses_the_field(
    operator_client, change, restarts
):
    camera = Camera.objects.create(
        name="Door", url="rtsp://cam.local/stream", location="Hall", desired_state="running"
    )
    with loop_sink(camera) as sink:
        response = operator_client.patch(f"/api/cameras/{camera.pk}/", change, format="json")
        assert response.status_code == 200, response.content
        assert sink.should_stop() is restarts
        assert sink.stop_reason == ("reconfigured" if restarts else "")
