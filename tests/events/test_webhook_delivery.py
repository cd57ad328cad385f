"""Webhook delivery against a real HTTP receiver: the outbox row commits with its alert, each
request is signed and carries the event id, failures are retried with backoff in order, a
delivery gives up (and its endpoint is disabled) after the retry window, redirects and private
addresses are refused, and the secret never reaches a log."""

import json
import logging
import time
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from alerts.models import Alert
from alerts.services import acknowledge_alert, create_alert
from audit.models import AuditEntry
from events import services
from events.models import Delivery, Event, WebhookEndpoint
from tests.support.waiting import wait_for
from tests.support.webhook_receiver import WebhookReceiver

from .conftest import SECRET

pytestmark = pytest.mark.django_db


def alert_on(camera, faces: int = 1) -> Alert:
    return create_alert(camera=camera, face_count=faces, boxes=[[1, 2, 3, 4, 0.9]] * faces)


def test_an_alert_and_its_outbox_event_commit_together_or_not_at_all(endpoint, camera):
    with pytest.raises(RuntimeError), transaction.atomic():
        alert_on(camera)
        raise RuntimeError("the caller's transaction fails after the alert")
    assert (Alert.objects.count(), Event.objects.count(), Delivery.objects.count()) == (0, 0, 0)

    alert = alert_on(camera)

    event = Event.objects.get()
    assert (event.type, event.camera_id, event.data["id"]) == ("alert.created", camera.pk, alert.pk)
    delivery = Delivery.objects.get()
    assert (delivery.event, delivery.endpoint, delivery.status) == (event, endpoint, "pending")


def test_a_delivery_is_signed_and_carries_the_event_id(endpoint, receiver, camera):
    alert = alert_on(camera, faces=2)

    run = services.deliver_pending(endpoint.pk)

    assert run.delivered == 1
    [got] = receiver.received
    event = Event.objects.get()
    assert got.signature_ok
    assert got.headers["X-Skylark-Signature"].startswith("sha256=")
    assert abs(int(got.headers["X-Skylark-Timestamp"]) - time.time()) < 10
    assert got.headers["X-Skylark-Event"] == "alert.created"
    assert got.headers["X-Skylark-Event-Id"] == str(event.event_id)
    body = got.event
    assert (body["id"], body["type"], body["camera"]) == (
        str(event.event_id),
        "alert.created",
        camera.pk,
    )
    assert (body["data"]["id"], body["data"]["face_count"], body["data"]["camera_name"]) == (
        alert.pk,
        2,
        "Front door",
    )
    assert "s3cret" not in got.body.decode()  # the camera URL's password
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.response_code) == ("delivered", 1, 200)
    assert delivery.delivered_at is not None and delivery.latency_ms is not None


def test_a_tampered_body_fails_the_receivers_check(endpoint, receiver, camera):
    alert_on(camera)
    services.deliver_pending(endpoint.pk)
    got = receiver.received[0]
    from events.signing import verify

    timestamp = int(got.headers["X-Skylark-Timestamp"])
    signature = got.headers["X-Skylark-Signature"]
    assert verify(SECRET, timestamp, got.body, signature)
    assert not verify(
        SECRET, timestamp, got.body.replace(b'"face_count":1', b'"face_count":9'), signature
    )
    assert not verify(SECRET, timestamp + 1, got.body, signature)
    assert not verify("another-secret-0123456789", timestamp, got.body, signature)


def test_a_failing_receiver_is_retried_with_backoff_and_the_order_is_kept(
    endpoint, receiver, camera, settings
):
    settings.WEBHOOK_BACKOFF_BASE_S = 0.5
    receiver.status = 500
    alerts = [alert_on(camera) for _ in range(3)]

    run = services.deliver_pending(endpoint.pk)

    assert (run.delivered, run.failed_attempts) == (0, 1)
    assert 0.2 < run.retry_in_s <= 0.5
    first, *rest = Delivery.objects.order_by("id")
    assert (first.status, first.attempts, first.response_code, first.last_error) == (
        "pending",
        1,
        500,
        "HTTP 500",
    )
    assert first.next_attempt_at > timezone.now()
    assert [d.attempts for d in rest] == [0, 0]  # waiting behind the first: order per endpoint
    assert receiver.requests == 1
    endpoint.refresh_from_db()
    assert endpoint.failing_since is not None

    assert services.deliver_pending(endpoint.pk).delivered == 0  # not due yet: no request
    assert receiver.requests == 1

    receiver.status = 200
    time.sleep(0.6)
    assert services.deliver_pending(endpoint.pk).delivered == 3

    assert [e["data"]["id"] for e in receiver.events()] == [a.pk for a in alerts]
    assert list(Delivery.objects.order_by("id").values_list("status", "attempts")) == [
        ("delivered", 2),
        ("delivered", 1),
        ("delivered", 1),
    ]
    endpoint.refresh_from_db()
    assert endpoint.failing_since is None


def test_backoff_doubles_from_the_base_up_to_the_maximum_with_jitter(settings):
    settings.WEBHOOK_BACKOFF_BASE_S = 1.0
    settings.WEBHOOK_BACKOFF_MAX_S = 600.0
    for attempts, ceiling in [(1, 1), (2, 2), (3, 4), (8, 128), (10, 512), (11, 600), (30, 600)]:
        delays = [services.backoff_s(attempts) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays), (
            attempts,
            min(delays),
            max(delays),
        )
        assert len(set(delays)) > 1  # jitter: retries of many events do not arrive together


def test_after_the_retry_window_the_delivery_fails_and_the_endpoint_is_disabled(
    endpoint, receiver, camera, settings
):
    settings.WEBHOOK_RETRY_FOR_S = 60
    receiver.status = 503
    alert_on(camera)
    long_ago = timezone.now() - timedelta(seconds=120)
    Delivery.objects.update(created_at=long_ago)
    WebhookEndpoint.objects.update(failing_since=long_ago)

    services.deliver_pending(endpoint.pk)

    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.last_error) == ("failed", "HTTP 503")
    endpoint.refresh_from_db()
    assert not endpoint.enabled
    assert "every delivery failed since" in endpoint.disabled_reason
    alert_on(camera)
    assert Delivery.objects.count() == 1  # a disabled endpoint gets no new events


def test_a_given_up_delivery_lets_the_next_one_go(endpoint, receiver, camera, settings):
    settings.WEBHOOK_RETRY_FOR_S = 60
    receiver.status = 500
    stale, fresh = alert_on(camera), alert_on(camera)
    Delivery.objects.filter(event__data__id=stale.pk).update(
        created_at=timezone.now() - timedelta(seconds=120)
    )
    services.deliver_pending(endpoint.pk)  # the stale one gives up, the fresh one fails once
    receiver.status = 200
    Delivery.objects.filter(status="pending").update(next_attempt_at=timezone.now())

    services.deliver_pending(endpoint.pk)

    assert [e["data"]["id"] for e in receiver.events()] == [fresh.pk]
    assert dict(Delivery.objects.values_list("event__data__id", "status")) == {
        stale.pk: "failed",
        fresh.pk: "delivered",
    }


def test_redirects_are_not_followed(endpoint, receiver, camera):
    elsewhere = WebhookReceiver(SECRET).start()
    try:
        receiver.redirect_to = elsewhere.url
        alert_on(camera)

        services.deliver_pending(endpoint.pk)

        delivery = Delivery.objects.get()
        assert (delivery.status, delivery.response_code) == ("pending", 302)
        assert delivery.last_error == "HTTP 302 (redirects are not followed)"
        assert elsewhere.requests == 0
    finally:
        elsewhere.stop()


def test_an_unreachable_receiver_is_an_error_with_its_reason(endpoint, receiver, camera):
    receiver.stop()
    alert_on(camera)

    services.deliver_pending(endpoint.pk)

    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.response_code) == ("pending", 1, None)
    assert "Connection refused" in delivery.last_error or "ConnectionRefused" in delivery.last_error


def test_a_slow_receiver_times_out(endpoint, receiver, camera, settings):
    settings.WEBHOOK_TIMEOUT_S = 0.5
    receiver.delay_s = 2
    alert_on(camera)

    started = time.monotonic()
    services.deliver_pending(endpoint.pk)

    assert time.monotonic() - started < 1.5
    delivery = Delivery.objects.get()
    assert delivery.status == "pending"
    assert "timed out" in delivery.last_error


def test_private_addresses_are_refused_at_delivery_time_too(endpoint, receiver, camera, settings):
    settings.WEBHOOK_ALLOW_PRIVATE = False  # the endpoint was saved while they were allowed
    alert_on(camera)

    services.deliver_pending(endpoint.pk)

    delivery = Delivery.objects.get()
    assert delivery.last_error.startswith("refused: 127.0.0.1 resolves to the non-public address")
    assert receiver.requests == 0


def test_an_endpoint_gets_only_the_events_and_cameras_it_chose(receiver, allow_private, cams):
    door, yard = cams
    services.create_webhook(
        name="acks", url=receiver.url, secret=SECRET, events=["alert.acknowledged"]
    )
    yard_only = services.create_webhook(
        name="yard", url=receiver.url, secret=SECRET, cameras=[yard]
    )
    on_door = alert_on(door)
    assert not Delivery.objects.exists()

    acknowledge_alert(on_door, _operator())
    alert_on(yard)

    assert sorted(Delivery.objects.values_list("endpoint__name", "event__type")) == [
        ("acks", "alert.acknowledged"),
        ("yard", "alert.created"),
    ]
    assert yard_only.deliveries.get().event.camera == yard


def _operator():
    from accounts.models import User

    return User.objects.create_user("op", password="x" * 20, is_staff=True)


def test_acknowledging_twice_sends_one_event(endpoint, camera):
    alert = alert_on(camera)
    user = _operator()
    acknowledge_alert(alert, user)
    acknowledge_alert(alert, user)
    assert Event.objects.filter(type="alert.acknowledged").count() == 1
    assert Event.objects.get(type="alert.acknowledged").data["acknowledged_by"] is not None


def test_a_test_event_goes_to_that_endpoint_only(endpoint, receiver, allow_private):
    other = services.create_webhook(name="other", url=receiver.url, secret="x" * 20)

    event = services.send_test_event(endpoint)
    services.deliver_pending(endpoint.pk)
    services.deliver_pending(other.pk)

    [got] = receiver.events()
    assert (got["id"], got["type"]) == (str(event.event_id), "webhook.test")
    assert AuditEntry.objects.filter(action="webhook.test", target_id=str(endpoint.pk)).exists()


def test_the_secret_never_reaches_the_logs_or_the_audit_log(
    receiver, allow_private, camera, caplog
):
    caplog.set_level(logging.DEBUG)
    endpoint = services.create_webhook(name="logged", url=receiver.url, secret=SECRET)
    alert_on(camera)
    services.deliver_pending(endpoint.pk)
    receiver.status = 500
    alert_on(camera)
    services.deliver_pending(endpoint.pk)
    services.update_webhook(endpoint, secret="whsec_another-secret-abcdefghij")

    assert "event=delivery_attempt target=webhook" in caplog.text
    assert SECRET not in caplog.text and "another-secret" not in caplog.text
    entries = json.dumps(list(AuditEntry.objects.values_list("changes", flat=True)))
    assert SECRET not in entries and "another-secret" not in entries
    update = AuditEntry.objects.get(action="webhook.update")
    assert update.changes == {"secret": ["***", "*** (replaced)"]}


def test_old_events_are_pruned_once_nothing_is_pending(endpoint, receiver, camera):
    delivered, pending, recent = alert_on(camera), alert_on(camera), alert_on(camera)
    Delivery.objects.filter(event__data__id=delivered.pk).update(status="delivered")
    Delivery.objects.filter(event__data__id=recent.pk).update(status="delivered")
    old = timezone.now() - timedelta(days=31)
    Event.objects.filter(data__id__in=[delivered.pk, pending.pk]).update(created_at=old)

    assert services.prune_events(older_than_days=30) == 2  # the event and its delivery

    assert sorted(Event.objects.values_list("data__id", flat=True)) == [pending.pk, recent.pk]


def test_one_deliverer_per_endpoint_at_a_time(endpoint, receiver, camera):
    import psycopg
    from django.db import connection

    alert_on(camera)
    params = connection.get_connection_params()
    with psycopg.connect(
        host=params.get("host"), port=params.get("port"), user=params.get("user"),
        dbname=params["dbname"], autocommit=True,
    ) as other:  # fmt: skip
        # Another worker's session holds this endpoint's line (what services._outbox_lock takes).
        other.execute("SELECT pg_advisory_lock(%s, %s)", [services._LOCK_CLASS, endpoint.pk])

        run = services.deliver_pending(endpoint.pk)

        assert run.busy and run.delivered == 0
        assert receiver.requests == 0
        # The other worker dies: PostgreSQL frees its lock when its backend has ended.
    wait_for(lambda: services.deliver_pending(endpoint.pk).delivered == 1, 5, "the lock freed")
    assert len(receiver.received) == 1
