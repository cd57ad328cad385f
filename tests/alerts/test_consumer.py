"""The WebSocket consumer's logic through Channels' WebsocketCommunicator, on the real Redis layer."""

import asyncio
import itertools
import threading
import time
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connection

from alerts.consumers import CLOSE_MESSAGE_TOO_BIG, FRAME_GAP_S
from alerts.realtime import events_in
from alerts.services import create_alert
from cameras.services import record_status
from config.asgi import application
from tests.support.auth import access_token

pytestmark = pytest.mark.django_db(transaction=True)


def run(coro):
    return asyncio.run(coro)


async def connect(path: str, headers=None) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(application, path, headers=headers or [])
    connected, _ = await communicator.connect()
    assert connected, f"connection to {path} refused"
    return communicator


async def next_of_type(communicator: WebsocketCommunicator, kind: str, timeout: float = 3) -> dict:
    while True:
        message = await communicator.receive_json_from(timeout=timeout)
        if message["type"] == kind:
            return message


async def alerts_received(communicator: WebsocketCommunicator, quiet: float = 0.5) -> list[int]:
    ids = []
    while not await communicator.receive_nothing(timeout=quiet):
        message = await communicator.receive_json_from()
        ids += [event["alert"]["id"] for event in events_in(message) if event["type"] == "alert"]
    return ids


def new_alert(camera, faces=1):
    return create_alert(camera=camera, face_count=faces, boxes=[[1, 2, 3, 4, 0.9]])


def test_no_credentials_refuses_the_handshake(cams):
    async def scenario():
        communicator = WebsocketCommunicator(application, "/ws/")
        connected, _ = await communicator.connect()
        assert not connected
        bad = WebsocketCommunicator(application, "/ws/?token=not-a-jwt")
        assert not (await bad.connect())[0]

    run(scenario())


def test_expired_token_is_refused_and_an_expiring_one_is_closed(viewer, cams):
    async def scenario():
        expired = WebsocketCommunicator(
            application, f"/ws/?token={access_token(viewer, timedelta(seconds=-5))}"
        )
        assert not (await expired.connect())[0]

        short = await connect(f"/ws/?token={access_token(viewer, timedelta(seconds=3))}")
        assert (await next_of_type(short, "error", timeout=10))["error"] == "token expired"
        assert (await short.receive_output(timeout=5))["code"] == 4401

    run(scenario())


def test_alerts_reach_all_and_camera_subscribers_only(viewer, cams):
    a, b = cams

    async def scenario():
        everything = await connect(f"/ws/?token={access_token(viewer)}")
        only_a = await connect(
            "/ws/", headers=[(b"authorization", f"Bearer {access_token(viewer)}".encode())]
        )
        only_b = await connect(f"/ws/?token={access_token(viewer)}")
        await only_a.send_json_to({"type": "subscribe", "cameras": [a.pk]})
        assert (await next_of_type(only_a, "subscribed"))["cameras"] == [a.pk]
        await only_b.send_json_to({"type": "subscribe", "cameras": [b.pk]})
        await next_of_type(only_b, "subscribed")

        alert = await sync_to_async(new_alert)(a)
        got = await next_of_type(everything, "alert")
        assert got["alert"]["id"] == alert.pk
        assert got["alert"]["camera"] == a.pk and got["alert"]["camera_name"] == "A"
        assert (await next_of_type(only_a, "alert"))["alert"]["id"] == alert.pk
        assert await alerts_received(only_b) == []
        for c in (everything, only_a, only_b):
            await c.disconnect()

    run(scenario())


def test_events_that_wait_together_leave_in_batch_frames_in_order(viewer, cams):
    a, b = cams

    async def scenario():
        everything = await connect(f"/ws/?token={access_token(viewer)}")
        only_a = await connect(f"/ws/?token={access_token(viewer)}")
        await only_a.send_json_to({"type": "subscribe", "cameras": [a.pk]})
        await next_of_type(only_a, "subscribed")

        created = []

        def save() -> None:
            try:
                created.extend([new_alert(a), new_alert(b), new_alert(a)])
                record_status(a.pk, status="online", fps_in=15.0, fps_out=15.0)
            finally:
                connection.close()

        # The event loop is held (join, not await) while another thread saves: the events wait
        # in the layer together, as they do when daphne is busy.
        saver = threading.Thread(target=save)
        saver.start()
        saver.join()
        a1, b1, a2 = (alert.pk for alert in created)

        async def frames_carrying(client: WebsocketCommunicator, count: int) -> list[list]:
            """The frames until `count` events have arrived, each as its events' summary."""
            frames: list[list] = []
            while sum(map(len, frames)) < count:
                frame = await client.receive_json_from(timeout=3)
                frames.append(
                    [
                        e["alert"]["id"] if e["type"] == "alert" else e["type"]
                        for e in events_in(frame)
                    ]
                )
            return frames

        # How the events split into frames depends on how the loop interleaves reading Redis
        # with sending (mostly one frame); their order and their filtering do not.
        for client, expected in (
            (everything, [a1, b1, a2, "camera.status"]),
            (only_a, [a1, a2, "camera.status"]),
        ):
            frames = await frames_carrying(client, len(expected))
            assert [event for frame in frames for event in frame] == expected
            assert any(len(frame) > 1 for frame in frames), frames
        # A lone event still comes alone.
        lone = await sync_to_async(new_alert)(b)
        assert (await everything.receive_json_from(timeout=3))["alert"]["id"] == lone.pk
        for client in (everything, only_a):
            await client.disconnect()

    run(scenario())


def test_alerts_saved_in_quick_succession_share_frames_spaced_by_the_gap(viewer, cams):
    a, _ = cams

    async def scenario():
        client = await connect(f"/ws/?token={access_token(viewer)}")

        def save_spaced() -> list[int]:
            saved = []
            for _ in range(20):
                saved.append(new_alert(a).pk)
                time.sleep(0.005)
            return saved

        # Saved a few ms apart while the event loop runs freely: without the frame gap each would
        # leave in a frame of its own.
        saver = asyncio.ensure_future(sync_to_async(save_spaced)())
        arrivals: list[float] = []
        ids: list[int] = []
        while len(ids) < 20:
            message = await client.receive_json_from(timeout=3)
            events = [e for e in events_in(message) if e["type"] == "alert"]
            if events:
                arrivals.append(time.monotonic())
            ids += [e["alert"]["id"] for e in events]
        created = await saver
        assert ids == created
        spacing = [later - earlier for earlier, later in itertools.pairwise(arrivals)]
        assert len(arrivals) < len(created), "no two alerts shared a frame"
        # The gap is kept between frames (halved: this client reads a little after daphne sends).
        assert min(spacing) >= FRAME_GAP_S / 2, spacing
        await client.disconnect()

    run(scenario())


def test_resume_delivers_exactly_the_missed_alerts_in_order(viewer, cams):
    a, b = cams

    async def scenario():
        first = await connect(f"/ws/?token={access_token(viewer)}")
        seen = await sync_to_async(new_alert)(a)
        assert (await next_of_type(first, "alert"))["alert"]["id"] == seen.pk
        await first.disconnect()

        missed = [await sync_to_async(new_alert)(cam) for cam in (a, b, a)]
        again = await connect(f"/ws/?token={access_token(viewer)}")
        await again.send_json_to({"type": "resume", "after_id": seen.pk})
        replayed = []
        while (message := await again.receive_json_from(timeout=3))["type"] != "resume.done":
            replayed.append(message["alert"]["id"])
        assert replayed == [m.pk for m in missed]
        assert message["replayed"] == 3

        live = await sync_to_async(new_alert)(b)
        assert await alerts_received(again) == [live.pk]
        await again.disconnect()

    run(scenario())


def test_resume_beyond_the_limit_asks_for_a_resync(viewer, cams, monkeypatch):
    monkeypatch.setattr("alerts.consumers.REPLAY_LIMIT", 2)

    async def scenario():
        for _ in range(3):
            await sync_to_async(new_alert)(cams[0])
        client = await connect(f"/ws/?token={access_token(viewer)}")
        await client.send_json_to({"type": "resume", "after_id": 0})
        assert (await next_of_type(client, "resync"))["type"] == "resync"
        await client.disconnect()

    run(scenario())


def test_status_events_arrive(viewer, cams):
    async def scenario():
        client = await connect(f"/ws/?token={access_token(viewer)}")
        await sync_to_async(record_status)(cams[0].pk, status="online", fps_in=14.7, fps_out=14.2)
        event = await next_of_type(client, "camera.status")
        assert event["camera"]["id"] == cams[0].pk
        assert event["camera"]["status"] == "online"
        assert event["camera"]["fps_in"] == 14.7
        assert set(event["camera"]) >= {
            "id",
            "status",
            "last_error",
            "fps_in",
            "fps_out",
            "last_frame_at",
        }
        await client.disconnect()

    run(scenario())


@pytest.mark.parametrize(
    "payload,error",
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "JSON object"),
        ('{"type": "dance"}', "unknown message type"),
        ('{"type": "subscribe", "cameras": [987654]}', "unknown cameras: [987654]"),
        ('{"type": "subscribe", "cameras": "all"}', "list of at most"),
        ('{"type": "resume", "after_id": "x"}', "non-negative integer"),
    ],
)
def test_bad_messages_get_a_clear_error_and_the_socket_stays_up(viewer, cams, payload, error):
    async def scenario():
        client = await connect(f"/ws/?token={access_token(viewer)}")
        await client.send_to(text_data=payload)
        assert error in (await next_of_type(client, "error"))["error"]
        await client.send_json_to({"type": "ping"})
        assert (await next_of_type(client, "pong"))["type"] == "pong"
        await client.disconnect()

    run(scenario())


def test_huge_frames_close_the_socket(viewer, cams):
    async def scenario():
        client = await connect(f"/ws/?token={access_token(viewer)}")
        await client.send_to(text_data="x" * 100_000)
        assert "larger than" in (await next_of_type(client, "error"))["error"]
        assert (await client.receive_output(timeout=2))["code"] == CLOSE_MESSAGE_TOO_BIG

    run(scenario())
