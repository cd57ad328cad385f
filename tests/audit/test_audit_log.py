"""The audit log: each operator action leaves one entry saying who, from where, what changed,
through every entry point (API, dashboard, admin, manage.py), and never a secret."""

import json
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from django.core.management import call_command
from django.test import AsyncClient, Client
from django.utils import timezone

from accounts.services import sign_up
from alerts.services import create_alert
from audit.context import acting_from_shell
from audit.models import AuditEntry
from audit.services import prune_audit
from cameras.models import Camera
from tests.conftest import PASSWORD
from tests.support.auth import access_token
from tests.support.cameras import camera_form

pytestmark = pytest.mark.django_db


def only_entry(**lookup: object) -> AuditEntry:
    entries = list(AuditEntry.objects.filter(**lookup))
    assert len(entries) == 1, f"expected one entry for {lookup}, found {entries}"
    return entries[0]


def test_an_api_edit_records_who_from_where_and_the_change_with_the_password_hidden(
    operator_client, camera
):
    response = operator_client.patch(
        f"/api/cameras/{camera.pk}/",
        {"url": "rtsp://admin:n3w-s3cret@10.0.0.6:554/stream1", "interval_ms": 400},
        format="json",
        REMOTE_ADDR="192.0.2.7",
    )
    assert response.status_code == 200, response.content
    entry = only_entry(action="camera.update")
    assert (entry.actor.username, entry.actor_name, entry.via) == ("operator", "operator", "api")
    assert entry.ip == "192.0.2.7"
    assert (entry.target_type, entry.target_id, entry.target_repr) == (
        "camera",
        str(camera.pk),
        "Front door",
    )
    assert entry.changes["url"] == [
        "rtsp://admin:***@10.0.0.5:554/stream1",
        "rtsp://admin:***@10.0.0.6:554/stream1",
    ]
    assert entry.changes["interval_ms"][1] == 400
    assert "s3cret" not in json.dumps(entry.changes)


def test_an_unchanged_save_records_nothing(operator_client, camera):
    response = operator_client.patch(
        f"/api/cameras/{camera.pk}/", {"name": camera.name}, format="json"
    )
    assert response.status_code == 200
    assert not AuditEntry.objects.filter(action="camera.update").exists()


def test_dashboard_create_start_stop_delete_each_leave_an_entry(operator):
    client = Client()
    client.force_login(operator)
    assert client.post("/cameras/new/", camera_form(name="Gate")).status_code == 302
    camera = Camera.objects.get(name="Gate")
    for step in ("start", "stop", "delete"):
        assert client.post(f"/cameras/{camera.pk}/{step}/").status_code == 302
    entries = list(AuditEntry.objects.order_by("id"))
    assert [e.action for e in entries] == [
        "camera.create",
        "camera.start",
        "camera.stop",
        "camera.delete",
    ]
    assert {(e.via, e.actor_name, e.target_id) for e in entries} == {
        ("web", "operator", str(camera.pk))
    }
    created = entries[0].changes
    assert created["name"] == [None, "Gate"]
    assert created["url"] == [None, "rtsp://cam:***@192.168.1.30:554/live"]
    assert "pw@" not in json.dumps([e.changes for e in entries])


def test_acknowledging_is_recorded_once(operator_client, camera):
    alert = create_alert(camera=camera, face_count=1, boxes=[[10, 10, 40, 40]])
    for _ in range(2):
        assert operator_client.post(f"/api/alerts/{alert.pk}/ack").status_code == 200
    entry = only_entry(action="alert.acknowledge")
    assert (entry.actor_name, entry.target_id) == ("operator", str(alert.pk))


def test_approval_rejection_and_password_change_are_recorded_without_the_password(operator):
    kept = sign_up(username="newcomer", password="a-long-password-1")
    turned_away = sign_up(username="stranger", password="a-long-password-2")
    client = Client()
    client.force_login(operator)
    client.post("/accounts/pending/", {"user": kept.pk, "role": "operator", "cameras": "all"})
    client.post("/accounts/pending/", {"user": turned_away.pk, "action": "reject"})
    approve = only_entry(action="account.approve")
    assert (approve.actor_name, approve.target_repr) == ("operator", "newcomer")
    assert approve.changes == {"role": [None, "operator"], "cameras": [None, "all"]}
    reject = only_entry(action="account.reject")
    assert reject.changes["username"] == ["stranger", None]

    client.post(
        "/account/password/",
        {
            "old_password": PASSWORD,
            "new_password1": "another-long-pass-9",
            "new_password2": "another-long-pass-9",
        },
    )
    change = only_entry(action="account.password_change")
    assert change.target_id == str(operator.pk) and change.changes == {}
    stored = json.dumps(list(AuditEntry.objects.values("changes")))
    assert "another-long-pass-9" not in stored and "a-long-password" not in stored


def test_a_role_change_in_the_admin_is_recorded(django_user_model, viewer):
    root = django_user_model.objects.create_superuser("root", password="root-pass-123")
    client = Client()
    client.force_login(root)
    page = client.get(f"/admin/accounts/user/{viewer.pk}/change/")
    form = {
        key: value
        for key, value in page.context["adminform"].form.initial.items()
        if value not in (None, [])
    }
    form |= {
        "username": "viewer",
        "is_staff": "on",
        "is_active": "on",
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
    }
    form.pop("password", None)
    form.pop("last_login", None)
    response = client.post(f"/admin/accounts/user/{viewer.pk}/change/", form)
    assert response.status_code == 302, response.context["adminform"].form.errors
    entry = only_entry(action="account.update")
    assert (entry.via, entry.actor_name) == ("admin", "root")
    assert entry.changes["is_staff"] == [False, True]


def test_a_command_run_from_the_shell_is_recorded_as_the_shell_user(camera):
    with acting_from_shell():
        call_command("streams", "start", str(camera.pk))
    entry = only_entry(action="camera.start")
    assert entry.via == "cli" and entry.actor is None and entry.actor_name


def test_what_no_one_asked_for_is_the_system(camera):
    from cameras.services import start_stream

    start_stream(camera)
    assert only_entry(action="camera.start").via == "system"


@pytest.mark.django_db(transaction=True)  # the ASGI handler's thread has its own connection
def test_a_request_served_through_asgi_is_attributed_too(operator, camera):
    """Under daphne the middleware runs in its async form; the view still sees the actor."""
    response = async_to_sync(AsyncClient().post)(
        f"/api/cameras/{camera.pk}/start",
        headers={"Authorization": f"Bearer {access_token(operator)}"},
    )
    assert response.status_code == 200, response.content
    entry = only_entry(action="camera.start")
    assert (entry.via, entry.actor_name) == ("api", "operator")


def test_operators_read_and_filter_the_log_viewers_do_not(
    operator_client, viewer_client, cams, operator
):
    a, b = cams
    for camera in (a, b):
        operator_client.post(f"/api/cameras/{camera.pk}/start")
    operator_client.patch(f"/api/cameras/{a.pk}/", {"location": "Porch"}, format="json")

    assert viewer_client.get("/api/audit/").status_code == 403
    everything = operator_client.get("/api/audit/").json()["results"]
    assert [e["action"] for e in everything] == ["camera.update", "camera.start", "camera.start"]
    assert everything[0]["actor"] == "operator" and everything[0]["changes"] == {
        "location": ["", "Porch"]
    }
    starts_of_b = operator_client.get(
        "/api/audit/", {"action": "camera.start", "target_type": "camera", "target_id": b.pk}
    ).json()["results"]
    assert [e["target_repr"] for e in starts_of_b] == ["B"]

    page = Client()
    page.force_login(operator)
    html = page.get("/audit/", {"action": "camera.update"}).content.decode()
    assert "camera.update" in html and "Porch" in html and "camera.start" not in html


def test_entries_older_than_the_retention_are_pruned(camera):
    from cameras.services import start_stream, stop_stream

    start_stream(camera)
    stop_stream(camera)
    AuditEntry.objects.filter(action="camera.start").update(at=timezone.now() - timedelta(days=366))
    assert prune_audit(older_than_days=365) == 1
    assert [e.action for e in AuditEntry.objects.all()] == ["camera.stop"]
