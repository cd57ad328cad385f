"""/healthz, /readyz (PostgreSQL, Redis, a streams worker) and /metrics."""

import pytest

from cameras.services import record_status
from tests.support.processes import CeleryWorker, child_env

pytestmark = pytest.mark.django_db(transaction=True)


def test_healthz(client):
    assert client.get("/healthz").json() == {"status": "ok"}


def test_readyz_names_what_is_down_and_recovers(client, private_redis, process_logs):
    private_redis.stop()
    down = client.get("/readyz")
    assert down.status_code == 503
    assert any(problem.startswith("redis:") for problem in down.json()["down"])

    private_redis.start()
    no_worker = client.get("/readyz")
    assert no_worker.status_code == 503
    assert no_worker.json()["down"] == ["streams worker: none answered"]

    worker = CeleryWorker(
        child_env(), process_logs, queues="streams", concurrency=1, name="streams"
    ).start()
    try:
        ready = client.get("/readyz")
        assert ready.status_code == 200, ready.json()
        assert ready.json() == {"status": "ok", "down": []}
    finally:
        worker.stop()


def test_metrics_are_internal_and_report_cameras(client, camera, settings):
    record_status(camera.pk, status="online", fps_in=15.0, fps_out=14.5, frames_dropped=3)
    body = client.get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode()
    assert f'skylark_camera_fps_in{{camera="{camera.pk}"}} 15.0' in body
    assert f'skylark_camera_fps_out{{camera="{camera.pk}"}} 14.5' in body
    assert f'skylark_camera_status{{camera="{camera.pk}",status="online"}} 1.0' in body

    assert client.get("/metrics", REMOTE_ADDR="192.168.1.50").status_code == 403
    settings.METRICS_TOKEN = "scrape-token"
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 403
    ok = client.get(
        "/metrics", REMOTE_ADDR="192.168.1.50", HTTP_AUTHORIZATION="Bearer scrape-token"
    )
    assert ok.status_code == 200
