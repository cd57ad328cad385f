"""MQTT out against a real Mosquitto: events on skylark/<camera>/alert and /status in order,
the status retained, Home Assistant discovery retained per camera (and removed with it), a
broker outage retried without loss, and the broker's password never in an error or a log."""

import json
import logging
from datetime import timedelta

import pytest
from django.utils import timezone

from alerts.services import create_alert
from cameras.models import Camera
from cameras.services import record_status
from events import mqtt, services
from events.models import Delivery
from tests.support.mqtt_broker import Heard, MosquittoBroker, Subscriber
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def broker(tmp_path, settings):
    server = MosquittoBroker(tmp_path).start()
    settings.MQTT_URL = server.url
    yield server
    server.stop()


@pytest.fixture
def listen(broker):
    subscribers: list[Subscriber] = []

    def subscribe(*topics: str) -> Subscriber:
        subscriber = Subscriber(broker.port, list(topics) or ["skylark/#", "homeassistant/#"])
        subscribers.append(subscriber)
        return subscriber

    yield subscribe
    for subscriber in subscribers:
        subscriber.close()


def test_alerts_and_status_are_published_in_order_and_the_status_is_retained(
    broker, listen, camera, settings
):
    settings.CAMERA_OFFLINE_AFTER_S = 30
    subscriber = listen()
    Camera.objects.filter(pk=camera.pk).update(desired_state="running", status="online")
    alerts = [create_alert(camera=camera, face_count=n, boxes=[]) for n in (1, 2)]
    record_status(camera.pk, status="offline")
    services.check_camera_availability(timezone.now() + timedelta(seconds=31))
    record_status(camera.pk, status="online")

    run = services.deliver_mqtt_pending()

    assert run.delivered == 4
    alert_topic, status_topic = f"skylark/{camera.pk}/alert", f"skylark/{camera.pk}/status"
    wait_for(lambda: len(subscriber.on(status_topic)) == 2, 5, "two status messages")
    published = [json.loads(m.payload) for m in subscriber.on(alert_topic)]
    assert [(p["type"], p["data"]["id"]) for p in published] == [
        ("alert.created", alerts[0].pk),
        ("alert.created", alerts[1].pk),
    ]
    assert all(p["id"] for p in published)  # the event id, as webhooks carry it
    assert [m.payload for m in subscriber.on(status_topic)] == ["offline", "online"]
    assert set(Delivery.objects.values_list("target", "status")) == {("mqtt", "delivered")}

    late = listen(status_topic)  # a client connecting later gets the retained status
    wait_for(lambda: late.on(status_topic), 5, "the retained status")
    assert late.on(status_topic) == [Heard(status_topic, "online", retain=True)]


def test_home_assistant_discovery_is_retained_for_each_camera_and_removed_with_it(
    broker, listen, cams
):
    door, yard = cams
    Camera.objects.filter(pk=door.pk).update(desired_state="running", status="online")

    assert mqtt.publish_discovery() == 2

    subscriber = listen("homeassistant/#", "skylark/+/status")
    face_topic = f"homeassistant/binary_sensor/skylark_camera{door.pk}/face/config"
    status_topic = f"homeassistant/sensor/skylark_camera{door.pk}/status/config"
    wait_for(lambda: len(subscriber.messages) >= 6, 5, "4 configs and 2 statuses")
    [face] = subscriber.on(face_topic)
    [status] = subscriber.on(status_topic)
    assert face.retain and status.retain
    face_config, status_config = json.loads(face.payload), json.loads(status.payload)
    assert face_config["unique_id"] == f"skylark_camera{door.pk}_face"
    assert face_config["device_class"] == "occupancy"
    assert face_config["state_topic"] == f"skylark/{door.pk}/alert"
    assert face_config["availability_topic"] == f"skylark/{door.pk}/status"
    assert face_config["device"]["identifiers"] == [f"skylark_camera{door.pk}"]
    assert face_config["device"]["name"] == "A"
    assert status_config["state_topic"] == f"skylark/{door.pk}/status"
    assert status_config["device"] == face_config["device"]
    assert [m.payload for m in subscriber.on(f"skylark/{door.pk}/status")] == ["online"]
    assert [m.payload for m in subscriber.on(f"skylark/{yard.pk}/status")] == ["stopped"]
    assert "rtsp" not in face.payload + status.payload  # never the camera URL

    mqtt.remove_discovery(door.pk)

    after = listen("homeassistant/#")
    wait_for(lambda: len(after.messages) >= 2, 5, "the other camera's configs")
    assert {m.topic for m in after.messages} == {
        f"homeassistant/binary_sensor/skylark_camera{yard.pk}/face/config",
        f"homeassistant/sensor/skylark_camera{yard.pk}/status/config",
    }


def test_a_broker_outage_is_retried_in_order_without_loss(broker, listen, camera, settings):
    broker.stop()
    alerts = [create_alert(camera=camera, face_count=1, boxes=[]) for _ in range(3)]

    run = services.deliver_mqtt_pending()

    assert (run.delivered, run.failed_attempts) == (0, 1)
    head = Delivery.objects.order_by("id").first()
    assert head.status == "pending" and head.attempts == 1
    assert head.last_error.startswith(f"cannot reach mqtt://127.0.0.1:{broker.port}")

    broker.start()
    subscriber = listen()
    Delivery.objects.update(next_attempt_at=timezone.now())
    assert services.deliver_mqtt_pending().delivered == 3
    topic = f"skylark/{camera.pk}/alert"
    wait_for(lambda: len(subscriber.on(topic)) == 3, 5, "three alerts")
    assert [json.loads(m.payload)["data"]["id"] for m in subscriber.on(topic)] == [
        a.pk for a in alerts
    ]


def test_the_broker_password_is_never_in_an_error_or_a_log(broker, camera, settings, caplog):
    caplog.set_level(logging.DEBUG)
    broker.stop()
    settings.MQTT_URL = f"mqtt://skylark:br0ker-pa55@127.0.0.1:{broker.port}"
    create_alert(camera=camera, face_count=1, boxes=[])

    services.deliver_mqtt_pending()

    delivery = Delivery.objects.get()
    assert "skylark:***@127.0.0.1" in delivery.last_error
    assert "br0ker-pa55" not in delivery.last_error and "br0ker-pa55" not in caplog.text


def test_no_broker_configured_means_no_mqtt_deliveries(camera, settings):
    settings.MQTT_URL = ""
    create_alert(camera=camera, face_count=1, boxes=[])
    assert not Delivery.objects.exists()
