"""The alert history page lists camera outages as their own kind, for the cameras the user sees."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from cameras.models import Camera
from cameras.naming import lease_key
from cameras.services import record_status
from config.redis import get_redis
from events import services

pytestmark = pytest.mark.django_db


@pytest.fixture
def outage(cams):
    """Camera A went offline and came back; B never did."""
    door, _ = cams
    Camera.objects.filter(pk=door.pk).update(desired_state="running", status="online")
    get_redis().set(lease_key(door.pk), "a loop", px=60_000)
    record_status(door.pk, status="offline", last_error="connection refused (rtsp://a…)")
    services.check_camera_availability(timezone.now() + timedelta(seconds=60))
    record_status(door.pk, status="online")
    yield door
    get_redis().delete(lease_key(door.pk))


def history(user, query: str = "") -> str:
    client = Client()
    client.force_login(user)
    response = client.get(f"/alerts/{query}")
    assert response.status_code == 200
    return response.content.decode()


def test_outages_are_listed_beside_the_alerts(viewer, outage, cams):
    page = history(viewer)
    assert "Camera outages" in page
    assert page.index("Back online") < page.index("Went offline")  # newest first
    assert "connection refused (rtsp://a…)" in page
    assert "Camera outages" not in history(viewer, f"?camera={cams[1].pk}")
    assert "Went offline" in history(viewer, f"?camera={outage.pk}")


def test_a_viewer_sees_only_the_outages_of_cameras_they_see(django_user_model, outage):
    stranger = django_user_model.objects.create_user("elsewhere", password="x" * 20)
    stranger.all_cameras = False
    stranger.save()
    assert "Camera outages" not in history(stranger)
