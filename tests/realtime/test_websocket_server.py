"""The live feed through a real daphne process and a real WebSocket client (the `websockets` package)."""

import asyncio
import json

import pytest
import websockets
from django.test import Client

from alerts.realtime import broadcast, events_in
from alerts.services import create_alert
from cameras.services import record_status
from tests.support.auth import access_token
from tests.support.threads import in_thread_async

pytestmark = pytest.mark.django_db(transaction=True)


async def receive_until(ws, kind: str, timeout: float = 5) -> dict:
    async with asyncio.timeout(timeout):
        while True:
            message = json.loads(await ws.recv())
            if message["type"] == kind:
                return message


async def drain_alerts(ws, quiet: float = 0.7) -> list[int]:
    ids = []
    while True:
        try:
            message = json.loads(await asyncio.wait_for(ws.recv(), quiet))
        except TimeoutError:
            return ids
        ids += [event["alert"]["id"] for event in events_in(message) if event["type"] == "alert"]


def test_handshake_without_credentials_is_refused_with_403(daphne_server, cams):
    async def scenario():
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(daphne_server.ws_url):
                pass
        assert refused.value.response.status_code == 403

    asyncio.run(scenario())


def test_session_cookie_and_jwt_clients_both_receive_alerts(daphne_server, viewer, cams):
    a, b = cams
    browser = Client()
    browser.force_login(viewer)
    cookie = f"sessionid={browser.cookies['sessionid'].value}"
    origin = daphne_server.http_url

    async def scenario():
        async with (
            websockets.connect(
                daphne_server.ws_url, additional_headers={"Cookie": cookie}, origin=origin
            ) as by_session,
            websockets.connect(f"{daphne_server.ws_url}?token={access_token(viewer)}") as by_query,
            websockets.connect(
                daphne_server.ws_url,
                additional_headers={"Authorization": f"Bearer {access_token(viewer)}"},
            ) as only_b,
        ):
            await only_b.send(json.dumps({"type": "subscribe", "cameras": [b.pk]}))
            await receive_until(only_b, "subscribed")
            await by_query.send(json.dumps({"type": "subscribe", "cameras": [a.pk]}))
            await receive_until(by_query, "subscribed")

            alert = await in_thread_async(
                create_alert, camera=a, face_count=2, boxes=[[5, 6, 7, 8, 0.8]]
            )
            for ws in (by_session, by_query):
                got = await receive_until(ws, "alert")
                assert got["alert"]["id"] == alert.pk
                assert got["alert"]["face_count"] == 2 and got["alert"]["boxes"] == [
                    [5, 6, 7, 8, 0.8]
                ]
            assert await drain_alerts(only_b) == []

            await in_thread_async(
                record_status, b.pk, status="offline", last_error="connection refused"
            )
            status = await receive_until(only_b, "camera.status")
            assert status["camera"] == status["camera"] | {
                "id": b.pk,
                "status": "offline",
                "last_error": "connection refused",
            }

    asyncio.run(scenario())


def test_cross_site_origin_is_refused(daphne_server, viewer, cams):
    browser = Client()
    browser.force_login(viewer)
    cookie = f"sessionid={browser.cookies['sessionid'].value}"

    async def scenario():
        with pytest.raises(websockets.InvalidStatus):
            async with websockets.connect(
                daphne_server.ws_url,
                additional_headers={"Cookie": cookie},
                origin="http://evil.example",
            ):
                pass

    asyncio.run(scenario())


def test_resume_after_disconnect_delivers_exactly_the_missed_alerts(daphne_server, viewer, cams):
    a, b = cams

    async def scenario():
        url = f"{daphne_server.ws_url}?token={access_token(viewer)}"
        async with websockets.connect(url) as ws:
            seen = await in_thread_async(create_alert, camera=a, face_count=1, boxes=[])
            assert (await receive_until(ws, "alert"))["alert"]["id"] == seen.pk
        missed = [
            await in_thread_async(create_alert, camera=c, face_count=1, boxes=[])
            for c in (b, a, b, a)
        ]
        async with websockets.connect(url) as ws:
            await ws.send(json.dumps({"type": "resume", "after_id": seen.pk}))
            replayed = []
            while (message := json.loads(await ws.recv()))["type"] != "resume.done":
                replayed.append(message["alert"]["id"])
            assert replayed == [m.pk for m in missed]
            live = await in_thread_async(create_alert, camera=b, face_count=1, boxes=[])
            assert await drain_alerts(ws) == [live.pk]

    asyncio.run(scenario())


def test_a_client_that_stops_reading_gets_every_event_in_order_once_it_reads(
    daphne_server, viewer, cams
):
    """18 MB of events while the client reads nothing: the sockets' buffers fill, daphne keeps
    what they do not take (config/socket_writes.py falls back to Twisted's buffer) and sends it
    in order once the client reads again. The events wait together, but no batch frame grows
    past what daphne will send (1 MiB; a bigger one failed the connection with 1011)."""
    camera = cams[0]
    padding = "x" * 300_000
    events = [
        {"type": "alert", "alert": {"id": n, "camera": camera.pk, "note": padding}}
        for n in range(1, 61)
    ]

    async def scenario():
        async with websockets.connect(
            f"{daphne_server.ws_url}?token={access_token(viewer)}", max_size=None, max_queue=1
        ) as ws:
            await ws.send(json.dumps({"type": "ping"}))
            await receive_until(ws, "pong")
            for event in events:
                await asyncio.to_thread(broadcast, camera.pk, event)
            await asyncio.sleep(1.0)  # the client reads nothing meanwhile
            received = []
            async with asyncio.timeout(30):
                while len(received) < len(events):
                    message = json.loads(await ws.recv())
                    received += [e["alert"] for e in events_in(message) if e["type"] == "alert"]
            assert [alert["id"] for alert in received] == list(range(1, 61))
            assert all(alert["note"] == padding for alert in received)

    asyncio.run(scenario())


def test_a_skylark_on_another_redis_database_hears_none_of_these_alerts(
    daphne_server, viewer, cams, process_logs
):
    """Redis pub/sub channels belong to the whole server: the channel prefix names the database
    (config/settings.py), so two installations sharing one Redis keep their live feeds apart."""
    from django.conf import settings

    from tests.support.processes import Daphne, child_env

    ours = settings.REDIS_URL
    other_db = (int(ours.rsplit("/", 1)[1]) + 1) % 16
    neighbour = Daphne(
        child_env(REDIS_URL=f"{ours.rsplit('/', 1)[0]}/{other_db}"), process_logs
    ).start()
    try:

        async def scenario():
            async with (
                websockets.connect(f"{daphne_server.ws_url}?token={access_token(viewer)}") as here,
                websockets.connect(f"{neighbour.ws_url}?token={access_token(viewer)}") as there,
            ):
                for ws in (here, there):
                    await ws.send(json.dumps({"type": "ping"}))
                    await receive_until(ws, "pong")
                alert = await in_thread_async(create_alert, camera=cams[0], face_count=1, boxes=[])
                assert await drain_alerts(here) == [alert.pk]
                assert await drain_alerts(there) == []

        asyncio.run(scenario())
    finally:
        neighbour.stop()
