"""Shared fixtures: users of both roles, API clients, cameras, a daphne, a Redis of the test's own."""

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

PASSWORD = "correct-horse-battery-staple"


@pytest.fixture(autouse=True)
def _fresh_throttles():
    cache.clear()  # login throttling counters


@pytest.fixture
def viewer(django_user_model):
    return django_user_model.objects.create_user("viewer", password=PASSWORD)


@pytest.fixture
def operator(django_user_model):
    return django_user_model.objects.create_user("operator", password=PASSWORD, is_staff=True)


def bearer_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}")
    return client


@pytest.fixture
def anon_client() -> APIClient:
    return APIClient()


@pytest.fixture
def viewer_client(viewer) -> APIClient:
    return bearer_client(viewer)


@pytest.fixture
def operator_client(operator) -> APIClient:
    return bearer_client(operator)


@pytest.fixture
def camera(db):
    from cameras.models import Camera

    return Camera.objects.create(
        name="Front door", url="rtsp://admin:s3cret@10.0.0.5:554/stream1", location="Hall"
    )


@pytest.fixture
def cams(db):
    """Two cameras, A and B, for tests that tell one camera's events from another's."""
    from cameras.models import Camera

    return (
        Camera.objects.create(name="A", url="rtsp://a.local/s"),
        Camera.objects.create(name="B", url="rtsp://b.local/s"),
    )


@pytest.fixture
def private_redis(tmp_path, settings):
    """A Redis server of the test's own, which it may stop and start: Skylark's Redis client and
    the channel layer (what daphne and broadcasts use) point at it; the Celery broker stays the
    machine's. A daphne started for the test needs child_env(REDIS_URL=private_redis.url)."""
    from channels.layers import channel_layers

    from config.redis import get_redis
    from config.settings import channel_prefix
    from tests.support.redis_server import RedisServer

    def forget_clients() -> None:
        get_redis.cache_clear()
        channel_layers.backends.clear()

    server = RedisServer(tmp_path).start()
    settings.REDIS_URL = server.url
    layer = settings.CHANNEL_LAYERS["default"]
    config = {"hosts": [server.url], "prefix": channel_prefix(server.url)}
    settings.CHANNEL_LAYERS = {"default": {**layer, "CONFIG": config}}
    forget_clients()
    yield server
    server.stop()
    forget_clients()


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """pytest-django's, and before it drops the test database, the connections still open to it
    are ended: those of threads that ran sync_to_async code, which nothing closes. With them
    open the drop failed ("being accessed by other users") and the next run found the database
    still there."""
    yield
    from django.db import connection

    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


@pytest.fixture(scope="session")
def process_logs(tmp_path_factory):
    return tmp_path_factory.mktemp("process-logs")


@pytest.fixture(scope="module")
def daphne_server(django_db_setup, django_db_blocker, process_logs):
    """A real daphne serving Skylark on a free port, against the test database."""
    from tests.support.processes import Daphne, child_env

    with django_db_blocker.unblock():
        server = Daphne(child_env(), process_logs).start()
    yield server
    server.stop()
