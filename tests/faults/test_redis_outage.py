"""Redis restarts (empty, as after a crash) under a streaming camera and connected dashboards:
the worker, beat and daphne recover by themselves, and every alert reaches every dashboard
exactly once (what the broadcast loses, resume brings back).

Everything here uses a private redis-server: its restart must not disturb other suites.
(tests/realtime/test_redis_restart.py covers daphne alone with alerts made by the test.)
"""

import os
import time

import pytest
from django.utils import timezone
from rest_framework_simplejwt.tokens import AccessToken

from alerts.models import Alert
from cameras.models import Camera
from simulator.control import CameraSimulator
from tests.support.live_feed import Dashboards
from tests.support.processes import CeleryBeat, CeleryWorker, Daphne, child_env
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_for

from .conftest import FACE_PERIOD_S
from .support import alert_ids, camera_row, start_workers

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]

# bench/faults_long.py runs this test with Redis away for 30 s.
REDIS_DOWN_S = float(os.environ.get("SKYLARK_FAULT_REDIS_DOWN_S", "3"))


def test_worker_beat_and_daphne_recover_from_a_redis_restart_and_no_alert_is_lost(
    face_video, viewer, process_logs, tmp_path
):
    redis_server = RedisServer(tmp_path).start()
    env = child_env(REDIS_URL=redis_server.url, CELERY_BROKER_URL=redis_server.url)
    worker = CeleryWorker(env, process_logs, concurrency=3, name=f"redis-{redis_server.port}")
    beat = CeleryBeat(env, process_logs)
    daphne = Daphne(env, process_logs)
    dashboards: Dashboards | None = None
    simulator = CameraSimulator({"door": face_video})
    try:
        simulator.start()
        start_workers(worker)
        beat.start()
        daphne.start()
        # Desired state only: beat's reconciler (on the private Redis) starts the loop.
        camera = Camera.objects.create(
            name="Door",
            url=simulator.url("door"),
            interval_ms=250,
            cooldown_s=1.0,
            desired_state=Camera.DesiredState.RUNNING,
        )
        dashboards = Dashboards(f"{daphne.ws_url}?token={AccessToken.for_user(viewer)}", 5)
        dashboards.start()
        wait_for(dashboards.connected, 10, "dashboards connected")
        wait_for(lambda: camera_row(camera.pk)["status"] == "online", 20, "online")
        wait_for(lambda: alert_ids(), 2 * FACE_PERIOD_S + 2, "a first alert")
        dashboards.wait_until_all_have(alert_ids, timeout=5)

        redis_server.stop()
        down = time.monotonic()
        down_at = timezone.now()
        # Redis stays away at least until the loop has stored an alert whose broadcast is lost.
        wait_for(
            lambda: Alert.objects.filter(created_at__gt=down_at).exists(),
            2 * FACE_PERIOD_S + 5,
            "an alert while Redis is down",
        )
        time.sleep(max(0.0, REDIS_DOWN_S - (time.monotonic() - down)))
        down_s = time.monotonic() - down
        assert f"event=broadcast_failed camera={camera.pk} type=alert" in worker.log()
        worker_log_before = len(worker.log())
        redis_server.start()  # same port, no data: leases, queues and groups are gone
        back = time.monotonic()
        back_at = timezone.now()

        # The camera's loop goes on (or is started again by beat) and alerts flow again.
        wait_for(
            lambda: Alert.objects.filter(created_at__gt=back_at).exists(),
            30,
            "an alert after Redis came back",
        )
        alert_after = time.monotonic() - back
        wait_for(lambda: camera_row(camera.pk)["status"] == "online", 10, "online")
        # Beat sends reconciles again and the worker runs them: both reconnected by themselves.
        # (A reconcile that changes nothing logs nothing, so give it a change to make: a camera
        # reported online that nobody runs is marked stopped.)
        stale = Camera.objects.create(name="Stale", url="rtsp://stale.local/s", status="online")
        wait_for(lambda: camera_row(stale.pk)["status"] == "stopped", 20, "a reconcile again")
        assert f"marked_stopped={stale.pk}" in worker.log()[worker_log_before:]
        expected = dashboards.wait_until_all_have(alert_ids, timeout=20)
        delivered_after = time.monotonic() - back
        assert worker.proc.poll() is None and beat.proc.poll() is None
        assert daphne.proc.poll() is None
        starts = worker.log().count(f"event=loop_start camera={camera.pk}\n")
        assert starts in (1, 2)
        print(
            f"Redis down {down_s:.1f}s: first new alert {alert_after:.1f}s after it was back; "
            f"all {len(expected)} alerts at all 5 dashboards {delivered_after:.1f}s after; "
            f"loop starts: {starts}; dashboard connections: "
            f"{[c.connections for c in dashboards.clients]}"
        )
    finally:
        if dashboards is not None:
            dashboards.stop()
        daphne.stop()
        beat.stop()
        worker.stop()
        simulator.stop()
        redis_server.stop()
