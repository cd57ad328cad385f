"""Daphne crashes and restarts while a camera raises alerts: the dashboards reconnect, resume
from the last alert they saw, and end up with every alert exactly once."""

import time

import pytest
from django.utils import timezone
from rest_framework_simplejwt.tokens import AccessToken

from alerts.models import Alert
from cameras.models import Camera
from cameras.services import start_stream
from simulator.control import CameraSimulator, free_port
from tests.support.live_feed import Dashboards
from tests.support.processes import Daphne, child_env
from tests.support.waiting import wait_for

from .conftest import FACE_PERIOD_S, LoopStack
from .support import alert_ids, camera_row

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]

CLIENTS = 10


def test_dashboards_resume_across_daphne_restarts_and_miss_nothing(
    loop_stack: LoopStack, face_video, viewer, process_logs
):
    daphne = Daphne(child_env(), process_logs, port=free_port())
    dashboards: Dashboards | None = None
    with CameraSimulator({"door": face_video}) as simulator:
        try:
            daphne.start()
            camera = Camera.objects.create(
                name="Door", url=simulator.url("door"), interval_ms=250, cooldown_s=1.0
            )
            token = AccessToken.for_user(viewer)
            dashboards = Dashboards(f"{daphne.ws_url}?token={token}", CLIENTS).start()
            wait_for(dashboards.connected, 10, "dashboards connected")
            start_stream(camera)
            wait_for(lambda: camera_row(camera.pk)["status"] == "online", 20, "online")
            wait_for(lambda: alert_ids(), 2 * FACE_PERIOD_S + 2, "a first alert")
            dashboards.wait_until_all_have(alert_ids, timeout=5)

            restarts = []
            for how in ("kill", "stop"):  # a crash (SIGKILL), then a deploy (SIGTERM)
                getattr(daphne, how)()
                down_at = timezone.now()
                # Daphne stays down until the loop has raised an alert nobody could be sent.
                wait_for(
                    lambda since=down_at: Alert.objects.filter(created_at__gt=since).exists(),
                    2 * FACE_PERIOD_S + 5,
                    "an alert while daphne is down",
                )
                daphne.start()
                back = time.monotonic()
                dashboards.wait_until_all_have(alert_ids, timeout=15)
                restarts.append(time.monotonic() - back)

            assert all(client.connections == 3 for client in dashboards.clients)
            total = len(alert_ids())
            print(
                f"{CLIENTS} dashboards, daphne killed then stopped: all {total} alerts at every "
                f"dashboard {restarts[0]:.1f}s / {restarts[1]:.1f}s after it was back"
            )
        finally:
            if dashboards is not None:
                dashboards.stop()
            daphne.stop()
