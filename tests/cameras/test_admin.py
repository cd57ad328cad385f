"""Admin: the camera actions go through the stream services; the alert list shows thumbnails."""

import pytest

from alerts.services import create_alert
from cameras.models import Camera

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
