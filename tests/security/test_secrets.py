"""A camera's password never shows where a viewer, a log reader or a WebSocket client can see it.

A real loop runs in a real Celery worker on rtsp://admin:<password>@127.0.0.1:<closed port>/x
(its detection sub-stream URL carries the same password): the camera goes offline with a reason,
which reaches the dashboards as a `camera.status` event and is shown on the pages. Then every
surface is searched for the password: the viewer's API answers, WebSocket events and dashboard
pages, and the worker's and daphne's log files.
"""

import asyncio
import json

import pytest
import websockets

from cameras.models import Camera
from simulator.control import free_port
from tests.support.auth import access_token, session_cookie
from tests.support.processes import CeleryWorker, child_env
from tests.support.waiting import wait_for

from .conftest import CAMERA_PASSWORD, http_request

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(120),
    pytest.mark.usefixtures("fast_password_hashing"),
]


def test_the_camera_password_appears_nowhere_but_the_operators_view(
    daphne_server, process_logs, viewer, operator
):
    closed_port = free_port()
    camera = Camera.objects.create(
        name="Gate",
        url=f"rtsp://admin:{CAMERA_PASSWORD}@127.0.0.1:{closed_port}/x",
        detect_url=f"rtsp://admin:{CAMERA_PASSWORD}@127.0.0.1:{closed_port}/sub",
    )
    port = daphne_server.port
    viewer_token = access_token(viewer)
    as_viewer = {"Authorization": f"Bearer {viewer_token}"}
    as_operator = {"Authorization": f"Bearer {access_token(operator)}"}
    viewer_pages = {"Cookie": f"sessionid={session_cookie(viewer)}"}
    worker = CeleryWorker(child_env(), process_logs, concurrency=1, name="secrets-worker").start()
    events: list[str] = []

    async def watch_the_camera_fail() -> None:
        url = f"{daphne_server.ws_url}?token={viewer_token}"
        async with websockets.connect(url) as ws:
            started = await asyncio.to_thread(
                http_request, port, "POST", f"/api/cameras/{camera.pk}/start", as_operator
            )
            assert started.status == 200
            async with asyncio.timeout(30):
                while True:
                    events.append(await ws.recv())
                    event = json.loads(events[-1])
                    if event["type"] == "camera.status" and event["camera"]["status"] == "offline":
                        return

    try:
        asyncio.run(watch_the_camera_fail())
        camera.refresh_from_db()
        assert "refused" in camera.last_error and "127.0.0.1" in camera.last_error
        surfaces = {
            "WebSocket events": "\n".join(events),
            **{
                f"API {path}": http_request(port, "GET", path, as_viewer).text
                for path in ("/api/cameras/", f"/api/cameras/{camera.pk}/", "/api/alerts/")
            },
            **{
                f"page {path}": http_request(port, "GET", path, viewer_pages).text
                for path in ("/", f"/cameras/{camera.pk}/", "/alerts/")
            },
        }
        operator_view = http_request(port, "GET", f"/api/cameras/{camera.pk}/", as_operator).text
        stopped = http_request(port, "POST", f"/api/cameras/{camera.pk}/stop", as_operator)
        assert stopped.status == 200
        wait_for(lambda: "event=loop_end" in worker.log(), 15, "the loop to end")
    finally:
        worker.stop()
    surfaces["worker log"] = worker.log()
    surfaces["daphne log"] = daphne_server.log()

    assert CAMERA_PASSWORD in operator_view, "operators see the URL they configured"
    leaks = [name for name, text in surfaces.items() if CAMERA_PASSWORD in text]
    assert leaks == []
    # ...and those surfaces did show this camera and its error, with the URL redacted:
    redacted = f"rtsp://admin:***@127.0.0.1:{closed_port}/x"
    shown = ["WebSocket events", f"API /api/cameras/{camera.pk}/", f"page /cameras/{camera.pk}/"]
    for name in [*shown, "worker log"]:
        assert redacted in surfaces[name], name
    for name in shown[1:]:  # the detection sub-stream's URL too
        assert redacted.replace("/x", "/sub") in surfaces[name], name
    assert f"/api/cameras/{camera.pk}/start" in surfaces["daphne log"]
    assert viewer_token not in surfaces["daphne log"], "nor the ?token= of the WebSocket"
