"""Admin: branded Skylark; camera add/change/delete and the start/stop actions go through the
services; the alert list shows thumbnails; operators manage cameras there, only superusers manage
users."""

import logging
import re

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from accounts.services import ensure_operator
from alerts.services import create_alert
from cameras.models import Camera
from cameras.services import record_status, start_stream
from tests.support.cameras import ADD_START_EDIT_DELETE, camera_form, service_events

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, django_user_model):
    user = django_user_model.objects.create_superuser("root", password="root-pass-123")
    client.force_login(user)
    return client


def test_start_and_stop_actions_set_desired_state(admin_client, camera):
    other = Camera.objects.create(name="Other", url="rtsp://other.local/s")
    url = "/admin/cameras/camera/"
    response = admin_client.post(
        url, {"action": "start_streams", "_selected_action": [camera.pk, other.pk]}, follow=True
    )
    assert response.status_code == 200
    assert b"Started 2 stream(s)" in response.content
    assert set(Camera.objects.values_list("desired_state", flat=True)) == {"running"}

    admin_client.post(url, {"action": "stop_streams", "_selected_action": [camera.pk]})
    camera.refresh_from_db()
    other.refresh_from_db()
    assert camera.desired_state == "stopped" and other.desired_state == "running"


def test_add_change_and_delete_go_through_the_services(admin_client, caplog):
    caplog.set_level(logging.INFO, logger="skylark.cameras")
    form = admin_client.get("/admin/cameras/camera/add/").content.decode()
    assert ">Source<" in form and ">Detection<" in form  # the field groups as fieldsets
    assert 'name="video_mode"' in form and 'name="detect_url"' in form
    added = admin_client.post("/admin/cameras/camera/add/", camera_form())
    camera = Camera.objects.get(name="Yard")
    assert added.status_code == 302 and added.url == "/admin/cameras/camera/"

    start_stream(camera)
    record_status(camera.pk, status="online", fps_in=15.0)
    changed = admin_client.post(
        f"/admin/cameras/camera/{camera.pk}/change/",
        camera_form(
            location="Garden",
            video_mode="original",
            detect_url="rtsp://cam:pw@192.168.1.30:554/sub",
        ),
    )
    assert changed.status_code == 302
    camera.refresh_from_db()
    assert (camera.location, camera.desired_state, camera.status) == ("Garden", "running", "online")
    assert (camera.video_mode, camera.detect_url) == (
        "original",
        "rtsp://cam:pw@192.168.1.30:554/sub",
    )

    deleted = admin_client.post(f"/admin/cameras/camera/{camera.pk}/delete/", {"post": "yes"})
    assert deleted.status_code == 302
    assert not Camera.objects.filter(pk=camera.pk).exists()
    assert service_events(caplog) == ADD_START_EDIT_DELETE


def test_camera_list_search_and_alert_thumbnails(admin_client, camera):
    listing = admin_client.get("/admin/cameras/camera/?q=Front")
    assert b"Front door" in listing.content
    alert = create_alert(
        camera=camera, face_count=1, boxes=[], snapshot_jpeg=b"\xff\xd8jpeg\xff\xd9"
    )
    alerts = admin_client.get("/admin/alerts/alert/")
    assert f"/api/alerts/{alert.pk}/snapshot".encode() in alerts.content
    change = admin_client.get(f"/admin/alerts/alert/{alert.pk}/change/")
    assert change.status_code == 200 and b'alt="snapshot"' in change.content


def test_admin_requires_staff(client, viewer):
    client.force_login(viewer)
    assert client.get("/admin/cameras/camera/").status_code == 302


def admin_links(page) -> set[str]:
    """The hrefs on a rendered admin page (what its user can click)."""
    return set(re.findall(r'href="([^"]+)"', page.content.decode()))


def test_the_demo_operator_manages_cameras_in_a_skylark_admin_without_user_pages(client):
    demo, created = ensure_operator(username="demo", password="demo-pass-123")
    assert created and demo.is_staff and not demo.is_superuser
    assert client.login(username="demo", password="demo-pass-123")

    index = client.get("/admin/")
    html = index.content.decode()
    assert "<title>Cameras and alerts | Skylark admin</title>" in html
    assert '<a href="/admin/">Skylark administration</a>' in html
    assert "Django administration" not in html and "Django site admin" not in html
    links = admin_links(index)
    assert {"/admin/cameras/camera/", "/admin/cameras/camera/add/", "/admin/alerts/alert/"} <= links
    assert not [link for link in links if link.startswith("/admin/accounts/")]

    assert client.get("/admin/cameras/camera/").status_code == 200
    added = client.post(
        "/admin/cameras/camera/add/",
        camera_form(url="rtsp://192.168.1.20/live", location=""),
    )
    assert added.status_code == 302, added.content.decode()[-2000:]
    assert Camera.objects.filter(name="Yard").exists()
    assert client.get("/admin/accounts/user/").status_code == 403
    assert client.get(f"/admin/accounts/user/{demo.pk}/change/").status_code == 403


def test_user_pages_are_for_superusers_whatever_a_staff_account_is_granted(admin_client, operator):
    operator.user_permissions.set(Permission.objects.filter(content_type__app_label="accounts"))
    client = Client()
    client.force_login(operator)
    assert client.get("/admin/accounts/user/").status_code == 403
    assert client.get("/admin/accounts/user/add/").status_code == 403

    assert "/admin/accounts/user/" in admin_links(admin_client.get("/admin/"))
    users = admin_client.get("/admin/accounts/user/")
    assert users.status_code == 200 and f"/admin/accounts/user/{operator.pk}/change/" in (
        admin_links(users)
    )


def test_a_superuser_approves_pending_accounts_from_the_user_list(admin_client, django_user_model):
    pending = django_user_model.objects.create_user("waiting", approved=False)
    listed = admin_client.get("/admin/accounts/user/?approved__exact=0").content.decode()
    assert "waiting" in listed and "approve_as_viewers" in listed
    done = admin_client.post(
        "/admin/accounts/user/", {"action": "approve_as_viewers", "_selected_action": [pending.pk]}
    )
    assert done.status_code == 302
    pending.refresh_from_db()
    assert pending.role == "viewer"
