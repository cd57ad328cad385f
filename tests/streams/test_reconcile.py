"""The reconciler: it starts loops that should run, marks stopped the cameras whose loop is gone,
and says nothing while nothing changes (beat runs it every 5 s)."""

import logging
import time

import pytest

from cameras.models import Camera
from cameras.naming import enqueue_guard_key, lease_key
from cameras.services import reconcile_streams
from config import celery_app
from config.redis import get_redis
from tests.support.processes import CeleryBeat, CeleryWorker, child_env

pytestmark = pytest.mark.django_db(transaction=True)


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.2)


def status(camera: Camera) -> str:
    camera.refresh_from_db()
    return camera.status


def test_reconcile_logs_one_line_for_what_it_changed_and_nothing_otherwise(caplog):
    redis = get_redis()
    stale = Camera.objects.create(name="Stale", url="rtsp://a.local/s", status="online")
    running = Camera.objects.create(
        name="Running", url="rtsp://b.local/s", desired_state="running", status="online"
    )
    redis.set(lease_key(running.pk), "its loop's token", px=10_000)
    wanted = Camera.objects.create(name="Wanted", url="rtsp://c.local/s", desired_state="running")
    redis.delete(enqueue_guard_key(wanted.pk))
    caplog.set_level(logging.INFO)
    try:
        assert reconcile_streams() == {
            "started": [wanted.pk],
            "marked_stopped": [stale.pk],
            "handover": [],
        }
        lines = [r.getMessage() for r in caplog.records if r.name.startswith("skylark")]
        assert lines == [f"event=reconcile started={wanted.pk} marked_stopped={stale.pk}"]
        assert status(stale) == "stopped"

        caplog.clear()
        # Wanted was queued moments ago (no worker here takes it): nothing to do, nothing said.
        assert reconcile_streams() == {"started": [], "marked_stopped": [], "handover": []}
        assert not [r for r in caplog.records if r.name.startswith("skylark")]
    finally:
        redis.delete(lease_key(running.pk), enqueue_guard_key(wanted.pk))
        with celery_app.connection_for_write() as connection:  # the loop no worker took
            connection.default_channel.queue_purge("streams")


def test_beat_and_worker_log_nothing_while_reconcile_changes_nothing(process_logs):
    env = child_env()
    worker = CeleryWorker(env, process_logs, queues="default", concurrency=1, name="quiet").start()
    beat = CeleryBeat(env, process_logs).start()
    try:
        # A first tick that changes something logs it: proof that beat and worker reconcile.
        first = Camera.objects.create(name="First", url="rtsp://a.local/s", status="online")
        wait_for(lambda: status(first) == "stopped", 20, "the first reconcile")
        wait_for(lambda: "event=reconcile" in worker.log(), 5, "its log line")
        worker_quiet_from, beat_quiet_from = len(worker.log()), len(beat.log())

        time.sleep(11)  # two more ticks with nothing to change

        # A later change is picked up again, so the ticks above did run.
        later = Camera.objects.create(name="Later", url="rtsp://b.local/s", status="online")
        wait_for(lambda: status(later) == "stopped", 10, "a later reconcile")
        wait_for(lambda: f"marked_stopped={later.pk}" in worker.log(), 5, "its log line")
        worker_lines = worker.log()[worker_quiet_from:].splitlines()
        assert [line for line in worker_lines if "reconcile" in line] == [
            line
            for line in worker_lines
            if f'event=reconcile started="" marked_stopped={later.pk}' in line
        ], worker_lines
        assert "reconcile" not in beat.log()[beat_quiet_from:], beat.log()[beat_quiet_from:]
    finally:
        beat.stop()
        worker.stop()
