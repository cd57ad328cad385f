"""The camera services directly: the rules every entry point (API, dashboard, admin) relies on."""

import logging

import pytest
from django.core.exceptions import ValidationError

from alerts.models import Alert
from alerts.services import create_alert
from cameras import services
from cameras.models import EDITABLE_FIELDS, PIPELINE_FIELDS, Camera
from cameras.naming import enqueue_guard_key
from config import celery_app
from config.redis import get_redis
from detection.tasks import pipeline_config

pytestmark = pytest.mark.django_db


def skylark_lines(caplog) -> list[str]:
    """What the camera services log; the audit log's own lines are tests/audit's business."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith("skylark") and r.name != "skylark.audit"
    ]


def test_create_validates_and_adds_a_stopped_camera(caplog):
    caplog.set_level(logging.INFO)
    with pytest.raises(ValidationError) as refused:
        services.create_camera(name="Yard", url="ftp://host/stream")
    assert list(refused.value.message_dict) == ["url"]
    assert not Camera.objects.exists()

    camera = services.create_camera(name="Yard", url="rtsp://cam:pw@10.0.0.9/s", location="Back")
    assert Camera.objects.get(pk=camera.pk).desired_state == "stopped"
    assert skylark_lines(caplog) == [f"event=camera_created camera={camera.pk}"]


def test_only_operator_fields_are_written_through_create_and_update(camera):
    with pytest.raises(TypeError, match="status"):
        services.create_camera(name="Yard", url="rtsp://h/s", status="online")
    with pytest.raises(TypeError, match="desired_state"):
        services.update_camera(camera, desired_state="running")
    camera.refresh_from_db()
    assert camera.desired_state == "stopped"


def test_update_saves_only_what_changed_so_the_loops_status_stays(camera, caplog):
    loaded = Camera.objects.get(pk=camera.pk)  # the operator's form loads the row...
    services.start_stream(camera)  # ...meanwhile the camera is started and its loop reports
    services.record_status(camera.pk, status="online", fps_in=15.0, last_error="")
    caplog.set_level(logging.INFO)
    caplog.clear()

    services.update_camera(loaded, location="Garden", name=loaded.name)
    row = Camera.objects.get(pk=camera.pk)
    assert (row.location, row.name) == ("Garden", "Front door")
    assert (row.desired_state, row.status, row.fps_in) == ("running", "online", 15.0)
    assert skylark_lines(caplog) == [
        f"event=camera_updated camera={camera.pk} changed=location loop_restarts=no"
    ]

    caplog.clear()
    services.update_camera(loaded, interval_ms=500, scale_factor=1.2)
    assert skylark_lines(caplog) == [
        f"event=camera_updated camera={camera.pk} changed=interval_ms,scale_factor"
        " loop_restarts=yes"
    ]


def test_an_update_that_changes_nothing_saves_nothing(camera, caplog):
    caplog.set_level(logging.INFO)
    before = Camera.objects.get(pk=camera.pk).updated_at
    services.update_camera(camera, location="Hall", interval_ms=1000)
    assert Camera.objects.get(pk=camera.pk).updated_at == before
    assert skylark_lines(caplog) == []


def test_an_update_is_validated(camera):
    with pytest.raises(ValidationError) as refused:
        services.update_camera(camera, interval_ms=5)
    assert list(refused.value.message_dict) == ["interval_ms"]
    assert Camera.objects.get(pk=camera.pk).interval_ms == 1000


def test_delete_takes_the_cameras_alerts_with_it(camera, caplog):
    caplog.set_level(logging.INFO)
    create_alert(camera=camera, face_count=1, boxes=[])
    camera_id = camera.pk
    services.delete_camera(camera)
    assert not Camera.objects.filter(pk=camera_id).exists()
    assert not Alert.objects.filter(camera_id=camera_id).exists()
    assert f"event=camera_deleted camera={camera_id}" in skylark_lines(caplog)


def test_start_queues_the_loop_only_after_the_commit(camera, django_capture_on_commit_callbacks):
    redis = get_redis()
    redis.delete(enqueue_guard_key(camera.pk))
    try:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            services.start_stream(camera)
            assert not redis.exists(enqueue_guard_key(camera.pk))
        assert not redis.exists(enqueue_guard_key(camera.pk)), "queued before the commit"
        for callback in callbacks:
            callback()
        assert redis.exists(enqueue_guard_key(camera.pk)), "not queued after the commit"
    finally:
        redis.delete(enqueue_guard_key(camera.pk))
        with celery_app.connection_for_write() as connection:  # the loop no worker took
            connection.default_channel.queue_purge("streams")


def changed(value: object) -> object:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value + 1
    return f"{value}x"


@pytest.mark.parametrize("name", sorted(set(EDITABLE_FIELDS) - set(PIPELINE_FIELDS)))
def test_a_field_outside_pipeline_fields_does_not_reach_the_pipeline(camera, name):
    """The loop restarts only for PIPELINE_FIELDS: a field the pipeline reads must be listed."""
    before = pipeline_config(camera)
    setattr(camera, name, changed(getattr(camera, name)))
    assert pipeline_config(camera) == before


def test_the_pipeline_runs_with_the_video_mode_and_the_detection_sub_stream(camera, settings):
    assert (pipeline_config(camera).video_mode, pipeline_config(camera).detect_source) == (
        "annotated",
        None,
    )
    settings.CAMERA_FILE_ROOT = "/srv/videos"
    camera.video_mode = "original"
    camera.detect_url = "file:///srv/videos/sub.mkv"
    config = pipeline_config(camera)
    assert (config.video_mode, config.detect_source) == ("original", "/srv/videos/sub.mkv")
    assert "sub.mkv" not in repr(config), "sources may carry passwords: never in repr or logs"
