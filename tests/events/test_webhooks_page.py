"""The operators' webhooks page: each endpoint's state and delivery log, a test-event button,
never a secret; viewers get 403."""

import pytest
from django.test import Client

from events import services
from events.models import Delivery

from .conftest import SECRET

pytestmark = pytest.mark.django_db


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_page_shows_each_endpoint_and_its_deliveries_and_no_secret(
    operator, endpoint, receiver, camera
):
    from alerts.services import create_alert

    create_alert(camera=camera, face_count=1, boxes=[])
    services.deliver_pending(endpoint.pk)
    receiver.status = 500
    create_alert(camera=camera, face_count=1, boxes=[])
    services.deliver_pending(endpoint.pk)

    page = logged_in(operator).get("/webhooks/").content.decode()

    assert "Receiver" in page and endpoint.url in page
    assert SECRET not in page
    assert page.count('data-status="delivered"') == 1
    assert page.count('data-status="pending"') == 1
    assert "HTTP 500" in page and "1 pending" in page


def test_the_test_button_queues_a_test_event(operator, endpoint):
    response = logged_in(operator).post(f"/webhooks/{endpoint.pk}/test/")

    assert (response.status_code, response.url) == (302, "/webhooks/")
    delivery = Delivery.objects.get()
    assert (delivery.endpoint, delivery.event.type) == (endpoint, "webhook.test")


def test_viewers_may_not_see_or_use_it(viewer, endpoint):
    client = logged_in(viewer)
    assert client.get("/webhooks/").status_code == 403
    assert client.post(f"/webhooks/{endpoint.pk}/test/").status_code == 403
    assert not Delivery.objects.exists()
