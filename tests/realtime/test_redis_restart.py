"""A Redis restart while dashboards are connected: they reconnect, resume, and miss nothing."""

import asyncio
import json

import pytest
import websockets
from channels.layers import channel_layers
from django.db import connection
from rest_framework_simplejwt.tokens import AccessToken

from alerts.realtime import events_in
from alerts.services import create_alert
from cameras.models import Camera
from config.settings import channel_prefix
from tests.support.processes import Daphne, child_env
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def private_redis(tmp_path, settings):
    server = RedisServer(tmp_path).start()
    settings.REDIS_URL = server.url
    layer = settings.CHANNEL_LAYERS["default"]  # what daphne uses, on the private Redis
    config = {"hosts": [server.url], "prefix": channel_prefix(server.url)}
    settings.CHANNEL_LAYERS = {"default": {**layer, "CONFIG": config}}
    channel_layers.backends.clear()
    yield server
    server.stop()
    channel_layers.backends.clear()


class ResumingClient:
    """What the dashboard does: keep the last alert id, reconnect with backoff, resume."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.received: list[int] = []
        self.connections = 0
        self.task: asyncio.Task | None = None

    async def run(self) -> None:
        delay = 0.2
        while True:
            try:
                async with websockets.connect(self.url, open_timeout=3) as ws:
                    self.connections += 1
                    delay = 0.2
                    last = self.received[-1] if self.received else 0
                    await ws.send(json.dumps({"type": "resume", "after_id": last}))
                    async for raw in ws:
                        for message in events_in(json.loads(raw)):
                            if message["type"] == "alert":
                                self.received.append(message["alert"]["id"])
            except (OSError, websockets.WebSocketException, TimeoutError):
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)


def make_alert(camera: Camera) -> int:
    try:
        return create_alert(camera=camera, face_count=1, boxes=[]).pk
    finally:
        connection.close()


def test_clients_reconnect_and_resume_across_a_redis_restart(private_redis, viewer, process_logs):
    camera = Camera.objects.create(name="A", url="rtsp://a.local/s")
    server = Daphne(child_env(REDIS_URL=private_redis.url), process_logs).start()
    try:

        async def scenario():
            clients = [
                ResumingClient(f"{server.ws_url}?token={AccessToken.for_user(viewer)}")
                for _ in range(3)
            ]
            tasks = [asyncio.create_task(c.run()) for c in clients]
            await asyncio.sleep(1.0)
            created = [await asyncio.to_thread(make_alert, camera) for _ in range(3)]
            await asyncio.to_thread(private_redis.stop)
            # Alerts made while Redis is down are saved; their broadcast is lost, resume recovers them.
            created += [await asyncio.to_thread(make_alert, camera) for _ in range(3)]
            await asyncio.sleep(1.0)
            await asyncio.to_thread(private_redis.start)
            channel_layers.backends.clear()
            await asyncio.sleep(4.0)
            created += [await asyncio.to_thread(make_alert, camera) for _ in range(3)]
            deadline = asyncio.get_running_loop().time() + 15
            while any(c.received != created for c in clients):
                if asyncio.get_running_loop().time() > deadline:
                    break
                await asyncio.sleep(0.2)
            for task in tasks:
                task.cancel()
            for c in clients:
                assert c.received == created, f"got {c.received}, expected {created}"
                assert c.connections >= 2, "the client should have reconnected"

        asyncio.run(scenario())
    finally:
        server.stop()
