"""A Redis restart while dashboards are connected: they reconnect, resume, and miss nothing."""

import asyncio

import pytest
from channels.layers import channel_layers
from rest_framework_simplejwt.tokens import AccessToken

from alerts.services import create_alert
from cameras.models import Camera
from tests.support.live_feed import ResumingClient
from tests.support.processes import Daphne, child_env
from tests.support.threads import in_thread_async

pytestmark = pytest.mark.django_db(transaction=True)


def make_alert(camera: Camera) -> int:
    return create_alert(camera=camera, face_count=1, boxes=[]).pk


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
            created = [await in_thread_async(make_alert, camera) for _ in range(3)]
            await asyncio.to_thread(private_redis.stop)
            # Alerts made while Redis is down are saved; their broadcast is lost, resume recovers them.
            created += [await in_thread_async(make_alert, camera) for _ in range(3)]
            await asyncio.sleep(1.0)
            await asyncio.to_thread(private_redis.start)
            channel_layers.backends.clear()
            await asyncio.sleep(4.0)
            created += [await in_thread_async(make_alert, camera) for _ in range(3)]
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
