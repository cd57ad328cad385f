"""Fuzz the REST API from its own OpenAPI schema (drf-spectacular, /api/schema/) with schemathesis.

Every operation is called with generated data, valid and invalid, as an operator (schemathesis'
boundary-value "coverage" cases plus random ones) and as a viewer (random ones: a viewer's writes
are refused before the body is read). Requests go through Django's whole WSGI stack on the test
database. No request may end in a 5xx, and every documented response must match its schema,
content type and headers. Queries the fuzzer found once, or cannot build, are kept as plain tests
at the end.
"""

import base64
import os

import pytest
import schemathesis
from django.core.cache import cache
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
)

from tests.support.auth import access_token

# The normal run is bounded and repeatable; SKYLARK_FUZZ_EXAMPLES=500 explores with a random seed.
EXAMPLES = int(os.environ.get("SKYLARK_FUZZ_EXAMPLES", "0"))
SEED = None if EXAMPLES else 20_251_122
CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    content_type_conformance,
    response_headers_conformance,
]
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES or 12,
    database=None,  # no replay of earlier failures: every run tries the same cases
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Ids of rows that exist, set by the `tokens` fixture; generated even ids are replaced by them,
# so detail operations reach real rows as well as missing ones.
EXISTING: dict[str, int] = {}


def _existing_ids_half_the_time(context, path_parameters: dict | None) -> dict | None:
    value = (path_parameters or {}).get("id")
    if EXISTING and isinstance(value, int) and value % 2 == 0:
        kind = "alert" if "/alerts/" in context.operation.path else "camera"
        return {**path_parameters, "id": EXISTING[kind]}
    return path_parameters


def load_schema(*, coverage: bool) -> schemathesis.BaseSchema:
    """The schema as /api/schema/ serves it, called through Django's own WSGI application."""
    config = schemathesis.Config.from_dict(
        {"phases": {"coverage": {"enabled": coverage}}} | ({"seed": SEED} if SEED else {})
    )
    schema = schemathesis.openapi.from_wsgi("/api/schema/", WSGIHandler(), config=config)
    schema.hook("map_path_parameters")(_existing_ids_half_the_time)
    return schema


operator_schema = load_schema(coverage=True)
viewer_schema = load_schema(coverage=False)


@pytest.fixture
def _keep_the_test_connection():
    """Django closes "old" connections around each request, which would end the test's
    transaction; its test client disconnects the same handlers."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def tokens(_keep_the_test_connection, fast_password_hashing, viewer, operator, alert_with_snapshot):
    EXISTING.update(camera=alert_with_snapshot.camera_id, alert=alert_with_snapshot.pk)
    yield {"viewer": access_token(viewer), "operator": access_token(operator)}
    EXISTING.clear()


def call_and_check(case, token: str) -> None:
    cache.clear()  # login throttling would answer 429 to every later example
    with transaction.atomic():  # every example starts from the same rows
        case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)
        transaction.set_rollback(True)


@pytest.mark.django_db
@operator_schema.parametrize()
@FUZZ_SETTINGS
def test_operator_requests_never_fail_and_match_the_schema(case, tokens):
    call_and_check(case, tokens["operator"])


@pytest.mark.django_db
@viewer_schema.parametrize()
@FUZZ_SETTINGS
def test_viewer_requests_never_fail_and_match_the_schema(case, tokens):
    call_and_check(case, tokens["viewer"])


def cursor(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "query,status",
    [
        # found by a random run: PostgreSQL refuses UTC offsets beyond ±15:59, Python does not
        ("since=2020-01-01T00:00:00%2B16:00", 400),
        ("until=0189-10-12T14:41:13%2B22:44", 400),
        ("since=0001-01-01T00:00:00%2B01:00", 200),
        # cursors the fuzzer cannot build: valid base64 around a bad position, id or direction
        (f"cursor={cursor(b'onot-a-time,5')}", 404),
        (f"cursor={cursor(b'o2020-01-01T00:00:00+00:00,99999999999999999999999')}", 404),
        (f"cursor={cursor(b'o0001-01-01T00:00:00+01:00,1')}", 404),
        (f"cursor={cursor(b'x2020-01-01T00:00:00+00:00,1')}", 404),
        (f"cursor={base64.b64encode(b'o=99999999999999999999999').decode()}", 404),
        ("page_size=99999999999999999999999", 200),
        ("camera=99999999999999999999999", 400),
    ],
)
def test_odd_alert_list_queries_are_client_errors_at_worst(operator_client, query, status):
    response = operator_client.get(f"/api/alerts/?{query}")
    assert response.status_code == status, response.content
