"""Fixtures of the events tests: a real webhook receiver, and an endpoint pointing at it."""

import pytest

from events import services
from tests.support.webhook_receiver import WebhookReceiver

SECRET = "whsec_test-secret-0123456789abcdef"


@pytest.fixture
def receiver():
    server = WebhookReceiver(SECRET).start()
    yield server
    server.stop()


@pytest.fixture
def allow_private(settings):
    """The receiver listens on 127.0.0.1, which the SSRF guard refuses by default."""
    settings.WEBHOOK_ALLOW_PRIVATE = True


@pytest.fixture
def endpoint(db, receiver, allow_private):
    return services.create_webhook(name="Receiver", url=receiver.url, secret=SECRET)
