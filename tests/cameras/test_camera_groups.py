"""Camera groups (sites): an account limited to group A sees A's cameras everywhere — lists,
pages, alerts, video, tokens, the live feed and its replay — and never learns that B's exist."""

import asyncio
import json

import pytest
import websockets
from django.test import Client

from accounts.services import approve_user
from alerts.realtime import events_in
from alerts.services import create_alert
from cameras.models import CameraGroup
from tests.conftest import bearer_client
from tests.support.auth import access_token

JPEG = b"\xff\xd8\xff\xe0 groups \xff\xd9"


@pytest.fixture
def site_a_viewer(django_user_model, cams):
    a, _ = cams
    group = CameraGroup.objects.create(name="Site A")
    group.cameras.add(a)
    user = django_user_model.objects.create_user("alice", password="pw", all_cameras=False)
    group.members.add(user)
    return user


@pytest.mark.django_db
def test_a_group_member_sees_its_sites_cameras_and_nothing_of_the_others(site_a_viewer, cams):
    a, b = cams
    alert_a = create_alert(camera=a, face_count=1, boxes=[], snapshot_jpeg=JPEG)
    alert_b = create_alert(camera=b, face_count=1, boxes=[], snapshot_jpeg=JPEG)
    api = bearer_client(site_a_viewer)
    assert [c["id"] for c in api.get("/api/cameras/").json()] == [a.pk]
    assert [x["id"] for x in api.get("/api/alerts/").json()["results"]] == [alert_a.pk]
    for path in (
        f"/api/cameras/{b.pk}/",
        f"/api/alerts/{alert_b.pk}/",
        f"/api/alerts/{alert_b.pk}/snapshot",
    ):
        # The same 404 as for an id that does not exist: no oracle.
        assert api.get(path).status_code == 404, path
        assert (
            api.get(
                path.replace(str(b.pk), "999999").replace(str(alert_b.pk), "999999")
            ).status_code
            == 404
        )

    page = Client()
    page.force_login(site_a_viewer)
    grid = page.get("/").content.decode()
    assert "A" in grid and f"/cameras/{b.pk}/" not in grid
    for path in (
        f"/cameras/{b.pk}/",
        f"/cameras/{b.pk}/snapshot.jpg",
        f"/cameras/{b.pk}/live.mjpg",
        f"/cameras/{b.pk}/media-token",
    ):
        assert page.get(path).status_code == 404, path
    assert page.get(f"/cameras/{a.pk}/media-token").status_code == 200


@pytest.mark.django_db
def test_accounts_with_all_cameras_and_superusers_see_every_camera(django_user_model, cams):
    everyone = django_user_model.objects.create_user("bob", password="pw")  # all_cameras default
    assert len(bearer_client(everyone).get("/api/cameras/").json()) == 2


@pytest.mark.django_db
def test_an_operator_approves_a_signup_into_a_group(operator, cams, django_user_model):
    a, _ = cams
    group = CameraGroup.objects.create(name="Site A")
    group.cameras.add(a)
    waiting = django_user_model.objects.create_user("carol", approved=False, all_cameras=False)
    ops = Client()
    ops.force_login(operator)
    assert "Site A" in ops.get("/accounts/pending/").content.decode()
    ops.post(
        "/accounts/pending/",
        {
            "user": waiting.pk,
            "action": "approve",
            "role": "viewer",
            "cameras": "groups",
            "groups": [group.pk],
        },
    )
    assert [c["id"] for c in bearer_client(waiting).get("/api/cameras/").json()] == [a.pk]
    approve_user(waiting, role="viewer", by=operator)  # and later: every camera
    assert len(bearer_client(waiting).get("/api/cameras/").json()) == 2


@pytest.mark.django_db(transaction=True)
def test_the_live_feed_and_its_replay_carry_only_the_sites_alerts(
    daphne_server, site_a_viewer, cams
):
    a, b = cams
    create_alert(camera=a, face_count=1, boxes=[])
    create_alert(camera=b, face_count=1, boxes=[])

    async def scenario():
        url = f"{daphne_server.ws_url}?token={access_token(site_a_viewer)}"
        async with websockets.connect(url) as ws:
            await ws.send(json.dumps({"type": "resume", "after_id": 0}))
            await ws.send(json.dumps({"type": "subscribe", "cameras": [b.pk]}))
            seen, errors = [], []
            async with asyncio.timeout(10):
                while not errors or not seen:
                    for event in events_in(json.loads(await ws.recv())):
                        if event["type"] == "alert":
                            seen.append(event["alert"]["camera"])
                        elif event["type"] == "error":
                            errors.append(event["error"])
            assert seen == [a.pk] and errors == [f"unknown cameras: [{b.pk}]"]
            await asyncio.to_thread(create_alert, camera=b, face_count=1, boxes=[])
            await asyncio.to_thread(create_alert, camera=a, face_count=1, boxes=[])
            async with asyncio.timeout(10):
                while True:
                    events = events_in(json.loads(await ws.recv()))
                    alerts = [e["alert"]["camera"] for e in events if e["type"] == "alert"]
                    if alerts:
                        assert alerts == [a.pk]
                        return

    asyncio.run(scenario())
