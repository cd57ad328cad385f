"""camera.offline and camera.online reach the live feed (the WebSocket, through the real Redis
layer) as their own kind of message, once per outage."""

import asyncio
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.utils import timezone

from cameras.models import Camera
from cameras.naming import lease_key
from cameras.services import record_status
from config.asgi import application
from config.redis import get_redis
from events import services
from events.models import Event
from tests.support.auth import access_token

pytestmark = pytest.mark.django_db(transaction=True)


async def next_of_type(communicator: WebsocketCommunicator, kinds: set[str]) -> dict:
    while True:
        message = await communicator.receive_json_from(timeout=3)
        for event in message.get("events", [message]):
            if event["type"] in kinds:
                return event


def test_an_outage_and_the_return_reach_the_dashboards(viewer, camera, settings):
    settings.CAMERA_OFFLINE_AFTER_S = 30
    Camera.objects.filter(pk=camera.pk).update(desired_state="running", status="online")
    get_redis().set(lease_key(camera.pk), "a loop", px=60_000)

    def go_offline() -> None:
        record_status(camera.pk, status="offline", last_error="connection refused (rtsp://…)")
        services.check_camera_availability(timezone.now() + timedelta(seconds=31))

    async def scenario() -> tuple[dict, dict]:
        client = WebsocketCommunicator(application, f"/ws/?token={access_token(viewer)}")
        assert (await client.connect())[0]
        await sync_to_async(go_offline)()
        offline = await next_of_type(client, {"camera.offline", "camera.online"})
        await sync_to_async(record_status)(camera.pk, status="online")
        online = await next_of_type(client, {"camera.offline", "camera.online"})
        await client.disconnect()
        return offline, online

    try:
        offline, online = asyncio.run(scenario())
    finally:
        get_redis().delete(lease_key(camera.pk))

    assert (offline["type"], online["type"]) == ("camera.offline", "camera.online")
    events = list(Event.objects.order_by("id"))
    assert offline["outage"] == {
        "event_id": str(events[0].event_id),
        "camera": camera.pk,
        "camera_name": "Front door",
        "at": events[0].created_at.isoformat(),
        "down_since": events[0].data["down_since"],
        "last_error": "connection refused (rtsp://…)",
    }
    assert online["outage"]["event_id"] == str(events[1].event_id)
    assert "s3cret" not in str(offline) + str(online)
