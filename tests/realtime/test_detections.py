"""The `detections` live event through a real daphne and a real WebSocket client: a socket gets
the boxes of the cameras it watches, and only those."""

import asyncio
import json
import time

import pytest
import websockets

from alerts.realtime import broadcast_detections, events_in
from cameras.models import Camera
from tests.support.auth import access_token

pytestmark = pytest.mark.django_db(transaction=True)

FACE = [320, 120, 160, 140, 0.93]
SIZE = (640, 360)
MALFORMED = "cameras must be a list of at most 64 camera ids"


async def reply(ws, kind: str, timeout: float = 5) -> dict:
    """The next message of type `kind`, skipping live events."""
    async with asyncio.timeout(timeout):
        while True:
            message = json.loads(await ws.recv())
            if message["type"] == kind:
                return message


async def detections(ws, quiet: float = 0.7) -> list[dict]:
    """The detections events that arrive until the socket stays quiet for `quiet` seconds, taken
    out of batch frames."""
    found = []
    while True:
        try:
            message = json.loads(await asyncio.wait_for(ws.recv(), quiet))
        except TimeoutError:
            return found
        found += [event for event in events_in(message) if event["type"] == "detections"]


async def broadcast(camera_id: int, boxes: list | None = None) -> float:
    at = time.time()
    await asyncio.to_thread(
        broadcast_detections, camera_id, at, SIZE, [FACE] if boxes is None else boxes
    )
    return at


async def watch(ws, cameras: object) -> dict:
    await ws.send(json.dumps({"type": "watch", "cameras": cameras}))
    return await reply(ws, "watching")


def test_a_socket_gets_the_detections_of_the_cameras_it_watches_only(daphne_server, viewer, cams):
    a, b = cams

    async def scenario():
        url = f"{daphne_server.ws_url}?token={access_token(viewer)}"
        async with websockets.connect(url) as watcher, websockets.connect(url) as bystander:
            # Nothing before a watch, even on a socket that gets every alert.
            await broadcast(a.pk)
            assert await detections(watcher) == []

            assert (await watch(watcher, [a.pk]))["cameras"] == [a.pk]
            at = await broadcast(a.pk)
            await broadcast(b.pk)
            got = await detections(watcher)
            assert got == [
                {
                    "type": "detections",
                    "camera": a.pk,
                    "at": at,
                    "size": list(SIZE),
                    "boxes": [FACE],
                    "ignored": [],
                }
            ]
            assert await detections(bystander) == []

            # Watching another set replaces the first; an empty list watches nothing.
            assert (await watch(watcher, [b.pk]))["cameras"] == [b.pk]
            await broadcast(a.pk)
            await broadcast(b.pk, [])
            assert [(e["camera"], e["boxes"]) for e in await detections(watcher)] == [(b.pk, [])]
            assert (await watch(watcher, []))["cameras"] == []
            await broadcast(b.pk)
            assert await detections(watcher) == []

    asyncio.run(scenario())


def test_unknown_ids_are_dropped_without_a_word(daphne_server, viewer, cams):
    a, _ = cams

    async def scenario():
        async with websockets.connect(f"{daphne_server.ws_url}?token={access_token(viewer)}") as ws:
            assert (await watch(ws, [987654, a.pk]))["cameras"] == [a.pk]
            await broadcast(987654)
            await broadcast(a.pk)
            assert [e["camera"] for e in await detections(ws)] == [a.pk]

    asyncio.run(scenario())


@pytest.mark.parametrize(
    "cameras", ["all", None, [1, "2"], [True], {"id": 1}, list(range(1, 66))], ids=repr
)
def test_a_malformed_watch_gets_an_error_and_changes_nothing(daphne_server, viewer, cams, cameras):
    a, _ = cams

    async def scenario():
        async with websockets.connect(f"{daphne_server.ws_url}?token={access_token(viewer)}") as ws:
            await watch(ws, [a.pk])
            await ws.send(json.dumps({"type": "watch", "cameras": cameras}))
            assert (await reply(ws, "error"))["error"] == MALFORMED
            await broadcast(a.pk)
            assert [e["camera"] for e in await detections(ws)] == [a.pk]

    asyncio.run(scenario())


def test_cameras_the_user_may_not_see_are_dropped(viewer, cams, monkeypatch):
    """Every logged-in user sees every camera today; cameras/selectors.py is the one place to
    narrow that, and the watch asks it. Narrowed here (in this process: the consumer runs
    in-process through Channels' WebsocketCommunicator, on the real Redis layer), a camera the
    rule leaves out is dropped from the watch and its detections never come."""
    from channels.testing import WebsocketCommunicator

    from alerts import consumers
    from config.asgi import application

    a, b = cams
    monkeypatch.setattr(consumers, "cameras_for_user", lambda user: Camera.objects.exclude(pk=b.pk))

    async def scenario():
        client = WebsocketCommunicator(application, f"/ws/?token={access_token(viewer)}")
        assert (await client.connect())[0]
        await client.send_json_to({"type": "watch", "cameras": [a.pk, b.pk]})
        while (answer := await client.receive_json_from(timeout=3))["type"] != "watching":
            pass
        assert answer["cameras"] == [a.pk]
        await broadcast(b.pk)
        await broadcast(a.pk)
        events = []
        while not await client.receive_nothing(timeout=0.7):
            events += events_in(await client.receive_json_from())
        assert [(e["type"], e["camera"]) for e in events] == [("detections", a.pk)]
        await client.disconnect()

    asyncio.run(scenario())


def test_an_anonymous_socket_cannot_watch(daphne_server, cams):
    async def scenario():
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(daphne_server.ws_url):
                pass
        assert refused.value.response.status_code == 403

    asyncio.run(scenario())
