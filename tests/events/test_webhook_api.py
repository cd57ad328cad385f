"""/api/webhooks/ and the admin: operators manage endpoints; the secret is shown once, on
creation, and masked after; bad input gets a 400 naming the field and the reason."""

import pytest
from django.test import Client

from audit.models import AuditEntry
from events import services
from events.models import Delivery, WebhookEndpoint

from .conftest import SECRET

pytestmark = pytest.mark.django_db

PUBLIC_URL = "https://93.184.215.14/skylark-hook"  # a literal public address: no DNS needed


def test_an_operator_creates_an_endpoint_and_sees_its_secret_only_once(operator_client, camera):
    response = operator_client.post(
        "/api/webhooks/",
        {
            "name": "Home",
            "url": PUBLIC_URL,
            "secret": SECRET,
            "events": ["camera.offline", "alert.created"],
            "cameras": [camera.pk],
        },
        format="json",
    )

    assert response.status_code == 201, response.content
    created = response.json()
    assert created["secret"] == SECRET
    assert (created["events"], created["cameras"], created["enabled"]) == (
        ["alert.created", "camera.offline"],
        [camera.pk],
        True,
    )
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.secret == SECRET
    for path in ("/api/webhooks/", f"/api/webhooks/{endpoint.pk}/"):
        body = operator_client.get(path).content.decode()
        assert SECRET not in body and "********" in body
    entry = AuditEntry.objects.get(action="webhook.create")
    assert entry.changes["secret"] == [None, "***"]


def test_without_a_secret_one_is_generated(operator_client):
    response = operator_client.post(
        "/api/webhooks/", {"name": "Gen", "url": PUBLIC_URL}, format="json"
    )
    assert response.status_code == 201
    secret = response.json()["secret"]
    assert secret.startswith("whsec_") and len(secret) > 30
    assert WebhookEndpoint.objects.get().secret == secret


@pytest.mark.parametrize(
    "url,reason",
    [
        ("ftp://93.184.215.14/x", "must start with http:// or https://"),
        ("http://127.0.0.1:8000/hook", "non-public address 127.0.0.1"),
        ("http://localhost/hook", "loopback name"),
        ("http://169.254.169.254/latest/meta-data", "non-public address"),
        ("http://10.0.0.8/hook", "non-public address"),
        ("http://[::1]/hook", "non-public address"),
        ("https://user:pw@93.184.215.14/x", "no credentials"),
        ("not a url", "Enter a valid URL"),
    ],
)
def test_a_bad_or_private_url_is_a_400_naming_the_reason(operator_client, url, reason):
    response = operator_client.post(
        "/api/webhooks/", {"name": "Bad", "url": url, "secret": SECRET}, format="json"
    )
    assert response.status_code == 400
    assert reason in " ".join(response.json()["url"])
    assert not WebhookEndpoint.objects.exists()


def test_private_urls_are_accepted_when_allowed(operator_client, settings):
    settings.WEBHOOK_ALLOW_PRIVATE = True
    response = operator_client.post(
        "/api/webhooks/", {"name": "LAN", "url": "http://192.168.1.20/hook"}, format="json"
    )
    assert response.status_code == 201


def test_unknown_events_short_secrets_and_malformed_json_are_400(operator_client):
    bad_event = operator_client.post(
        "/api/webhooks/",
        {"name": "E", "url": PUBLIC_URL, "events": ["alert.created", "camera.exploded"]},
        format="json",
    )
    assert bad_event.status_code == 400
    assert "camera.exploded" in str(bad_event.json()["events"])
    short = operator_client.post(
        "/api/webhooks/", {"name": "S", "url": PUBLIC_URL, "secret": "short"}, format="json"
    )
    assert short.status_code == 400 and "secret" in short.json()
    malformed = operator_client.post(
        "/api/webhooks/", data='{"name": "M", "url": ', content_type="application/json"
    )
    assert malformed.status_code == 400
    assert "JSON parse error" in malformed.json()["detail"]
    assert not WebhookEndpoint.objects.exists()


def test_viewers_and_anonymous_cannot_see_or_change_endpoints(viewer_client, anon_client):
    endpoint = services.create_webhook(name="Hidden", url=PUBLIC_URL, secret=SECRET)
    for client, code in ((viewer_client, 403), (anon_client, 401)):
        assert client.get("/api/webhooks/").status_code == code
        assert client.get(f"/api/webhooks/{endpoint.pk}/").status_code == code
        assert client.post("/api/webhooks/", {"name": "x", "url": PUBLIC_URL}).status_code == code
        assert client.post(f"/api/webhooks/{endpoint.pk}/test").status_code == code
        assert client.delete(f"/api/webhooks/{endpoint.pk}/").status_code == code
    assert WebhookEndpoint.objects.count() == 1
    assert not Delivery.objects.exists()


def test_an_empty_secret_keeps_the_current_one_and_reenabling_clears_the_reason(operator_client):
    endpoint = services.create_webhook(name="Keep", url=PUBLIC_URL, secret=SECRET)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        enabled=False, disabled_reason="disabled: failing for 24 h"
    )

    response = operator_client.patch(
        f"/api/webhooks/{endpoint.pk}/", {"secret": "", "enabled": True}, format="json"
    )

    assert response.status_code == 200, response.content
    assert (response.json()["enabled"], response.json()["disabled_reason"]) == (True, "")
    assert response.json()["secret"] == "********"
    endpoint.refresh_from_db()
    assert (endpoint.secret, endpoint.enabled, endpoint.failing_since) == (SECRET, True, None)
    assert AuditEntry.objects.get(action="webhook.update").changes == {"enabled": [False, True]}


def test_the_test_button_and_the_delivery_log(operator_client, camera):
    endpoint = services.create_webhook(name="Log", url=PUBLIC_URL, secret=SECRET)

    response = operator_client.post(f"/api/webhooks/{endpoint.pk}/test")

    assert response.status_code == 202
    log = operator_client.get(f"/api/webhooks/{endpoint.pk}/deliveries").json()
    assert [(d["event_id"], d["event_type"], d["status"], d["attempts"]) for d in log] == [
        (response.json()["event_id"], "webhook.test", "pending", 0)
    ]
    assert (
        operator_client.get(f"/api/webhooks/{endpoint.pk}/deliveries?status=delivered").json() == []
    )
    bad = operator_client.get(f"/api/webhooks/{endpoint.pk}/deliveries?status=lost")
    assert bad.status_code == 400 and "status" in bad.json()


def test_deleting_an_endpoint_is_audited(operator_client):
    endpoint = services.create_webhook(name="Gone", url=PUBLIC_URL, secret=SECRET)
    assert operator_client.delete(f"/api/webhooks/{endpoint.pk}/").status_code == 204
    assert not WebhookEndpoint.objects.exists()
    assert AuditEntry.objects.get(action="webhook.delete").changes["secret"] == ["***", None]


def test_the_admin_adds_an_endpoint_and_never_shows_its_secret(operator, camera):
    client = Client()
    client.force_login(operator)
    form = {
        "name": "From admin",
        "url": PUBLIC_URL,
        "secret": SECRET,
        "events": ["alert.created"],
        "cameras": [camera.pk],
        "enabled": "on",
    }
    inline = {
        "deliveries-TOTAL_FORMS": "0",
        "deliveries-INITIAL_FORMS": "0",
        "deliveries-MIN_NUM_FORMS": "0",
        "deliveries-MAX_NUM_FORMS": "0",
    }

    response = client.post("/admin/events/webhookendpoint/add/", form)

    assert response.status_code == 302, response.content.decode()[:3000]
    endpoint = WebhookEndpoint.objects.get()
    assert (endpoint.secret, endpoint.events, list(endpoint.cameras.all())) == (
        SECRET,
        ["alert.created"],
        [camera],
    )
    assert AuditEntry.objects.filter(action="webhook.create", via="admin").exists()
    services.send_test_event(endpoint)
    page = client.get(f"/admin/events/webhookendpoint/{endpoint.pk}/change/").content.decode()
    assert SECRET not in page
    assert "webhook.test" in page  # the delivery log, inline
    # Saved again with the secret left empty: the secret stays.
    edit = {**form, "secret": "", "name": "Renamed", **inline}
    assert (
        client.post(f"/admin/events/webhookendpoint/{endpoint.pk}/change/", edit).status_code == 302
    )
    endpoint.refresh_from_db()
    assert (endpoint.name, endpoint.secret) == ("Renamed", SECRET)
    # Only what changed is in the audit log: the cameras were sent again, unchanged.
    assert AuditEntry.objects.get(action="webhook.update").changes == {
        "name": ["From admin", "Renamed"]
    }

    refused = client.post(
        "/admin/events/webhookendpoint/add/", {**form, "name": "Local", "url": "http://127.0.0.1/x"}
    )
    assert refused.status_code == 200 and "non-public address" in refused.content.decode()
