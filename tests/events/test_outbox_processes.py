"""The outbox with real processes: a Celery worker and beat on a private Redis deliver to a real
receiver; a worker killed mid-delivery (kill -9) and a Redis restart (queued tasks gone) lose
nothing: every event arrives at least once, repeats carry the same event id, the order per
endpoint holds. And a camera down for CAMERA_OFFLINE_AFTER_S reaches the receiver as
camera.offline within 5 s more, then camera.online."""

import json
import time

import pytest

from alerts.services import create_alert
from cameras.models import Camera
from cameras.naming import lease_key
from cameras.services import record_status
from config.redis import get_redis
from events import services
from events.models import Delivery, Event
from tests.support.mqtt_broker import MosquittoBroker, Subscriber
from tests.support.processes import CeleryBeat, CeleryWorker, child_env
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_for

from .conftest import SECRET

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(180)]

OFFLINE_AFTER_S = 3


def use_celery_broker(url: str) -> str:
    """Point this process's task sends at `url` (the workers' broker); returns the old one."""
    from config.celery import app

    before = app.conf.broker_url
    app.conf.broker_url = url
    app._pool = None  # the connection and producer pools were made for the old URL
    if "amqp" in app.__dict__:
        app.amqp._producer_pool = None
    return before


@pytest.fixture
def broker(tmp_path, settings):
    """A private Redis as the Celery broker and REDIS_URL of the workers, beat and this test
    process alike (the outbox's "task queued" flags live in REDIS_URL)."""
    server = RedisServer(tmp_path).start()
    before = use_celery_broker(server.url)
    settings.REDIS_URL = server.url
    get_redis.cache_clear()
    yield server
    use_celery_broker(before)
    server.stop()
    get_redis.cache_clear()


@pytest.fixture
def mosquitto(tmp_path):
    server = MosquittoBroker(tmp_path).start()
    yield server
    server.stop()


@pytest.fixture
def sweep_s() -> float:
    """Beat's sweep, slower than any test here: what arrives came by its own task (or retry).
    The test that loses tasks on purpose sets it to 1 s."""
    return 60.0


@pytest.fixture
def processes(broker, mosquitto, process_logs, allow_private, sweep_s):
    env = child_env(
        MQTT_URL=mosquitto.url,
        REDIS_URL=broker.url,
        CELERY_BROKER_URL=broker.url,
        WEBHOOK_ALLOW_PRIVATE="1",
        WEBHOOK_BACKOFF_BASE_S="0.2",
        WEBHOOK_BACKOFF_MAX_S="2",
        OUTBOX_SWEEP_S=str(sweep_s),
        CAMERA_OFFLINE_AFTER_S=str(OFFLINE_AFTER_S),
    )
    started: list = []

    def start_worker() -> CeleryWorker:
        worker = CeleryWorker(
            env, process_logs, queues="default", concurrency=2, name=f"outbox-{len(started)}"
        )
        started.append(worker.start())
        return worker

    beat = CeleryBeat(env, process_logs)
    started.append(beat.start())
    yield start_worker
    for process in reversed(started):
        process.stop()


def in_order_without_gaps(received: list[dict], expected_ids: list[str]) -> bool:
    first_seen = list(dict.fromkeys(event["id"] for event in received))
    return first_seen == expected_ids


@pytest.mark.parametrize("sweep_s", [1.0])
def test_every_event_arrives_across_a_worker_kill_and_a_redis_restart(
    processes, broker, receiver, camera
):
    endpoint = services.create_webhook(name="Receiver", url=receiver.url, secret=SECRET)
    worker = processes()
    for _ in range(5):
        create_alert(camera=camera, face_count=1, boxes=[])
    wait_for(lambda: len(receiver.received) >= 5, 15, "the first five events")

    # The receiver answers slowly: the worker is killed while a delivery is in flight.
    receiver.delay_s = 2.0
    for _ in range(3):
        create_alert(camera=camera, face_count=1, boxes=[])
    wait_for(lambda: receiver.requests > 5, 10, "a delivery in flight")
    worker.kill()
    receiver.delay_s = 0.0
    for _ in range(2):
        create_alert(camera=camera, face_count=1, boxes=[])  # queued for a worker that is gone

    broker.restart()  # empty: the queued delivery tasks are lost too
    processes()  # a new worker; beat's sweep finds what is still pending

    expected = [str(i) for i in Event.objects.order_by("id").values_list("event_id", flat=True)]
    assert len(expected) == 10
    wait_for(
        lambda: in_order_without_gaps(receiver.events(), expected), 30, "all ten events, in order"
    )
    assert all(r.signature_ok for r in receiver.received)
    ids = [event["id"] for event in receiver.events()]
    assert set(ids) == set(expected)  # repeats only of an event already sent, same id
    # The one in flight was taken by the receiver but never confirmed to the dead worker: it
    # came again, with its event id, for the receiver to dedupe.
    assert len(ids) > len(expected)
    wait_for(
        lambda: not Delivery.objects.filter(endpoint=endpoint).exclude(status="delivered").exists(),
        10,
        "every delivery marked delivered",
    )


def test_a_receiver_outage_is_retried_until_it_recovers(processes, receiver, camera):
    services.create_webhook(name="Receiver", url=receiver.url, secret=SECRET)
    processes()
    receiver.status = 503
    alerts = [create_alert(camera=camera, face_count=1, boxes=[]) for _ in range(3)]
    wait_for(lambda: receiver.requests >= 3, 15, "three failing attempts (backing off)")
    assert receiver.received == []
    head = Delivery.objects.order_by("id").first()
    assert head.attempts >= 2 and head.last_error == "HTTP 503" and head.status == "pending"

    receiver.status = 200

    wait_for(lambda: len(receiver.received) >= 3, 15, "the three events after recovery")
    assert [e["data"]["id"] for e in receiver.events()] == [a.pk for a in alerts]


def test_camera_offline_then_online_reach_the_receiver(processes, receiver, camera):
    services.create_webhook(
        name="Outages",
        url=receiver.url,
        secret=SECRET,
        events=["camera.offline", "camera.online"],
    )
    processes()
    Camera.objects.filter(pk=camera.pk).update(desired_state="running", status="online")
    get_redis().set(lease_key(camera.pk), "a loop", px=120_000)  # its loop is alive throughout

    record_status(camera.pk, status="offline", last_error="connection refused")
    down = time.monotonic()
    wait_for(lambda: receiver.events(), OFFLINE_AFTER_S + 5, "camera.offline")
    assert OFFLINE_AFTER_S <= time.monotonic() - down <= OFFLINE_AFTER_S + 5
    record_status(camera.pk, status="online")
    wait_for(lambda: len(receiver.events()) == 2, 5, "camera.online")

    offline, online = receiver.events()
    assert (offline["type"], online["type"]) == ("camera.offline", "camera.online")
    assert offline["camera"] == online["camera"] == camera.pk
    time.sleep(OFFLINE_AFTER_S + 2)
    assert len(receiver.events()) == 2  # one of each


def test_a_new_camera_and_its_alerts_reach_mqtt_through_the_worker(processes, mosquitto, settings):
    settings.MQTT_URL = mosquitto.url  # this process saves the camera and the alert
    subscriber = Subscriber(mosquitto.port, ["skylark/#", "homeassistant/#"])
    try:
        processes()
        camera = Camera.objects.create(name="Porch", url="rtsp://porch.local/s")  # committed

        config = f"homeassistant/binary_sensor/skylark_camera{camera.pk}/face/config"
        wait_for(lambda: subscriber.on(config), 10, "discovery for the new camera")
        create_alert(camera=camera, face_count=1, boxes=[])
        topic = f"skylark/{camera.pk}/alert"
        wait_for(lambda: subscriber.on(topic), 10, "the alert on MQTT")

        [message] = subscriber.on(topic)
        assert json.loads(message.payload)["type"] == "alert.created"
        late = Subscriber(mosquitto.port, [config])  # retained: a late subscriber gets it too
        try:
            wait_for(lambda: late.on(config), 5, "the retained discovery config")
            assert late.on(config)[0].retain
        finally:
            late.close()
        assert Delivery.objects.get(target="mqtt").status == "delivered"
    finally:
        subscriber.close()
