"""PostgreSQL restarts while a worker delivers webhooks: the outbox rows are in PostgreSQL, so
what was committed stays; the worker's run dies with its session, beat's sweep picks the line up
again once the database is back, and every event arrives, in order, repeats with the same id.

The worker, beat and this test use a private PostgreSQL cluster (the machine's server is shared
and must never be stopped) and a private Redis. Like tests/security/test_access_table.py, run it
with another module that uses the test database (tests/events does): alone, the session's test
database teardown (tests/conftest.py) finds no test database to clean.
"""

import time

import pytest
from django.db import connections, transaction

from events.models import Delivery, Event, WebhookEndpoint
from tests.faults.postgres_server import PostgresCluster
from tests.faults.support import migrate
from tests.support.processes import CeleryBeat, CeleryWorker, child_env
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_for

from .conftest import SECRET

pytestmark = pytest.mark.timeout(240)

ALIAS = "events_pg"
EVENTS = 12


@pytest.fixture
def stack(django_db_setup, django_db_blocker, process_logs, tmp_path, receiver):
    cluster = PostgresCluster().start()
    broker = RedisServer(tmp_path).start()
    started: list = []
    try:
        cluster.create_database("skylark_events_outbox")
        url = cluster.url("skylark_events_outbox")
        with django_db_blocker.unblock():
            env = child_env(
                DATABASE_URL=url,
                REDIS_URL=broker.url,
                CELERY_BROKER_URL=broker.url,
                WEBHOOK_ALLOW_PRIVATE="1",
                WEBHOOK_BACKOFF_BASE_S="0.2",
                WEBHOOK_BACKOFF_MAX_S="1",
                OUTBOX_SWEEP_S="1",
            )
        migrate(env)
        worker = CeleryWorker(env, process_logs, queues="default", concurrency=2, name="pg-out")
        started += [worker.start(), CeleryBeat(env, process_logs).start()]
        settings_dict = dict(connections["default"].settings_dict)
        settings_dict.update(NAME="skylark_events_outbox", HOST="127.0.0.1", PORT=cluster.port)
        connections.settings[ALIAS] = settings_dict
        with django_db_blocker.unblock():
            yield cluster
            connections[ALIAS].close()
        del connections.settings[ALIAS]
    finally:
        for process in reversed(started):
            process.stop()
        broker.stop()
        cluster.destroy()


def committed_events(receiver_url: str) -> list[str]:
    """An endpoint and EVENTS events, each with its delivery row committed as emit_event does
    (the worker's sweep finds them: this process has no Celery of theirs to call)."""
    try:
        with transaction.atomic(using=ALIAS):
            endpoint = WebhookEndpoint.objects.using(ALIAS).create(
                name="Receiver", url=receiver_url, secret=SECRET
            )
        ids = []
        for n in range(EVENTS):
            with transaction.atomic(using=ALIAS):
                event = Event.objects.using(ALIAS).create(type="webhook.test", data={"n": n})
                Delivery.objects.using(ALIAS).create(
                    event=event, endpoint=endpoint, created_at=event.created_at
                )
            ids.append(str(event.event_id))
        return ids
    finally:
        connections[ALIAS].close()


def undelivered() -> int:
    try:
        return Delivery.objects.using(ALIAS).exclude(status="delivered").count()
    finally:
        connections[ALIAS].close()


def test_every_event_arrives_in_order_across_a_postgres_restart(stack, receiver):
    receiver.delay_s = 0.3  # slow enough for PostgreSQL to go away mid-line
    expected = committed_events(receiver.url)
    wait_for(lambda: len(receiver.received) >= 3, 20, "the first events")

    stack.stop()  # -m fast: the worker's session (and its advisory lock) end at once
    time.sleep(3)
    stack.start()

    wait_for(lambda: len({e["id"] for e in receiver.events()}) == EVENTS, 30, "every event after")
    first_seen = list(dict.fromkeys(e["id"] for e in receiver.events()))
    assert first_seen == expected
    assert all(r.signature_ok for r in receiver.received)
    wait_for(lambda: undelivered() == 0, 15, "every delivery marked delivered")
