"""Bad input on the live feed, through a real daphne and the `websockets` client.

Each bad message gets an `error` answer on its own socket, which stays usable; an oversized
message gets an error and a close, and a frame over daphne's limit drops only that connection.
Another client connected meanwhile keeps getting its events and never sees the bad client's
errors, and the server logs no unhandled exception. The consumer's own handling of these messages
is unit-tested in tests/alerts/test_consumer.py; this adds the real server.
"""

import asyncio
import json

import pytest
import websockets

from alerts.consumers import CLOSE_MESSAGE_TOO_BIG, MAX_MESSAGE_BYTES
from alerts.services import create_alert
from cameras.models import Camera
from tests.support.auth import access_token
from tests.support.threads import in_thread_async

from .conftest import next_message

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("fast_password_hashing"),
]

UNHANDLED = "Exception inside application"  # what daphne logs when a consumer raises

BAD_MESSAGES = {
    "malformed JSON": ("{not json", "not valid JSON"),
    "truncated JSON": ('{"type": "subscribe", "cameras": [1,', "not valid JSON"),
    "deeply nested JSON": ("[" * 5000 + "]" * 5000, "not valid JSON"),
    "a JSON array": ("[1, 2]", "must be a JSON object"),
    "a JSON string": ('"subscribe"', "must be a JSON object"),
    "binary, not UTF-8": (b"\xff\xfe\xfa\x00\x81", "not valid JSON"),
    "no type": ('{"cameras": [1]}', "unknown message type 'None'"),
    "unknown type": ('{"type": "shutdown"}', "unknown message type 'shutdown'"),
    "type of another shape": ('{"type": {"$ne": 1}}', "unknown message type"),
    "camera that does not exist": (
        '{"type": "subscribe", "cameras": [987654321]}',
        "unknown cameras: [987654321]",
    ),
    "camera id beyond bigint": (
        json.dumps({"type": "subscribe", "cameras": [2**70]}),
        f"unknown cameras: [{2**70}]",
    ),
    "negative camera id": ('{"type": "subscribe", "cameras": [-1]}', "unknown cameras: [-1]"),
    "camera ids not integers": (
        '{"type": "subscribe", "cameras": ["1; DROP TABLE cameras_camera", 1.5, true]}',
        "list of at most",
    ),
    "too many cameras": (json.dumps({"type": "subscribe", "cameras": list(range(201))}), "at most"),
    "resume from a string": ('{"type": "resume", "after_id": "../../1"}', "non-negative integer"),
    "resume from a negative id": ('{"type": "resume", "after_id": -5}', "non-negative integer"),
}


@pytest.fixture
def camera(db):
    return Camera.objects.create(name="Porch", url="rtsp://porch.local/s")


async def assert_only_pong_then(ws) -> None:
    """The next message on `ws` answers its own ping: nothing else was queued for it."""
    await ws.send(json.dumps({"type": "ping"}))
    assert await next_message(ws) == {"type": "pong"}


async def assert_next_is_alert(ws, alert_id: int) -> None:
    """The next message on `ws` is that alert: no error (or anything else) came before it."""
    message = await next_message(ws)
    assert message["type"] == "alert" and message["alert"]["id"] == alert_id, message


@pytest.mark.parametrize("payload,error", BAD_MESSAGES.values(), ids=BAD_MESSAGES.keys())
def test_bad_message_gets_an_error_on_its_own_socket_only(
    daphne_server, viewer, camera, payload, error
):
    log_before = len(daphne_server.log())
    url = f"{daphne_server.ws_url}?token={access_token(viewer)}"

    async def scenario():
        async with websockets.connect(url) as bystander, websockets.connect(url) as bad:
            await bad.send(payload)
            answer = await next_message(bad)
            assert answer["type"] == "error" and error in answer["error"], answer
            await assert_only_pong_then(bad)  # still connected and answering

            alert = await in_thread_async(create_alert, camera=camera, face_count=1, boxes=[])
            for ws in (bystander, bad):
                await assert_next_is_alert(ws, alert.pk)
            await assert_only_pong_then(bystander)  # it never saw the bad client's error

    asyncio.run(scenario())
    assert UNHANDLED not in daphne_server.log()[log_before:]


def test_a_message_over_the_limit_gets_an_error_then_a_close(daphne_server, viewer, camera):
    log_before = len(daphne_server.log())
    url = f"{daphne_server.ws_url}?token={access_token(viewer)}"

    async def scenario():
        async with websockets.connect(url) as bystander:
            async with websockets.connect(url) as bad:
                await bad.send(json.dumps({"type": "ping", "pad": "x" * MAX_MESSAGE_BYTES}))
                answer = await next_message(bad)
                assert answer["type"] == "error" and "larger than" in answer["error"]
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    await next_message(bad)
                # Not 1011 (internal error): the close code must be one daphne can send.
                assert closed.value.rcvd is not None
                assert closed.value.rcvd.code == CLOSE_MESSAGE_TOO_BIG

            alert = await in_thread_async(create_alert, camera=camera, face_count=1, boxes=[])
            await assert_next_is_alert(bystander, alert.pk)
            await assert_only_pong_then(bystander)

    asyncio.run(scenario())
    assert UNHANDLED not in daphne_server.log()[log_before:]


def test_a_frame_over_daphnes_limit_drops_only_that_connection(daphne_server, viewer, camera):
    log_before = len(daphne_server.log())
    url = f"{daphne_server.ws_url}?token={access_token(viewer)}"

    async def scenario():
        async with websockets.connect(url) as bystander:
            async with websockets.connect(url, max_size=None) as bad:
                with pytest.raises(websockets.ConnectionClosed):
                    # daphne refuses frames over 1 MiB before Skylark sees them
                    await bad.send("x" * (2 * 1024 * 1024))
                    await next_message(bad)

            alert = await in_thread_async(create_alert, camera=camera, face_count=1, boxes=[])
            await assert_next_is_alert(bystander, alert.pk)
            await assert_only_pong_then(bystander)

    asyncio.run(scenario())
    assert UNHANDLED not in daphne_server.log()[log_before:]
