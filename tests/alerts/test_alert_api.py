"""Alert API contract: cursor pagination across inserts, filters, ack, private snapshots."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.files.storage import default_storage
from django.db import connection
from django.test.utils import CaptureQueriesContext

from alerts.models import Alert
from alerts.services import acknowledge_alert, alert_event, create_alert
from cameras.models import Camera

pytestmark = pytest.mark.django_db

JPEG = b"\xff\xd8\xff\xe0" + b"snapshot-bytes" + b"\xff\xd9"


@pytest.fixture
def two_cameras(db):
    return (
        Camera.objects.create(name="A", url="rtsp://a.local/s"),
        Camera.objects.create(name="B", url="rtsp://b.local/s"),
    )


def make_alerts(camera, count, start, step=timedelta(minutes=1)):
    return [
        create_alert(
            camera=camera,
            face_count=1,
            boxes=[[1, 2, 3, 4, 0.9]],
            created_at=start + i * step,
        )
        for i in range(count)
    ]


def all_pages(client, url):
    ids, next_url = [], url
    while next_url:
        page = client.get(next_url).json()
        ids += [a["id"] for a in page["results"]]
        next_url = page["next"]
    return ids


def test_pagination_is_newest_first_and_stable_across_inserts(viewer_client, two_cameras):
    cam, _ = two_cameras
    start = datetime(2026, 1, 1, tzinfo=UTC)
    alerts = make_alerts(cam, 12, start)
    first = viewer_client.get("/api/alerts/?page_size=5").json()
    assert [a["id"] for a in first["results"]] == [a.pk for a in reversed(alerts)][:5]
    assert "count" not in first, "no COUNT(*) per request"

    # New alerts arrive while the client pages: it sees neither a gap nor a repeat.
    make_alerts(cam, 3, start + timedelta(hours=1))
    rest = all_pages(viewer_client, first["next"])
    assert rest == [a.pk for a in reversed(alerts)][5:]


def test_filters(viewer_client, two_cameras):
    a, b = two_cameras
    day = datetime(2026, 3, 10, tzinfo=UTC)
    on_a = make_alerts(a, 3, day)
    on_b = make_alerts(b, 2, day + timedelta(days=1))
    acked = on_a[0]
    acked.acknowledged_at = day
    acked.save()

    def ids(query):
        return sorted(all_pages(viewer_client, f"/api/alerts/?{query}"))

    assert ids(f"camera={a.pk}") == sorted(x.pk for x in on_a)
    assert ids("since=2026-03-11T00:00:00Z") == sorted(x.pk for x in on_b)
    assert ids("until=2026-03-11T00:00:00Z") == sorted(x.pk for x in on_a)
    assert ids("since=2026-03-10T00:01:00Z&until=2026-03-10T00:02:00Z") == [on_a[1].pk]
    assert ids("acknowledged=true") == [acked.pk]
    assert ids("acknowledged=false") == sorted(x.pk for x in on_a[1:] + on_b)


@pytest.mark.parametrize(
    "query", ["camera=abc", "since=yesterday", "acknowledged=maybe", "camera=-1"]
)
def test_bad_filters_are_400(viewer_client, two_cameras, query):
    response = viewer_client.get(f"/api/alerts/?{query}")
    assert response.status_code == 400
    assert query.split("=")[0] in response.json()


def test_acknowledge_records_who_and_when(viewer_client, viewer, two_cameras):
    alert = make_alerts(two_cameras[0], 1, datetime(2026, 1, 1, tzinfo=UTC))[0]
    response = viewer_client.post(f"/api/alerts/{alert.pk}/ack")
    assert response.status_code == 200
    assert response.json()["acknowledged_by"] == "viewer"
    first_ack = response.json()["acknowledged_at"]
    assert first_ack is not None
    again = viewer_client.post(f"/api/alerts/{alert.pk}/ack").json()
    assert again["acknowledged_at"] == first_ack


def test_snapshot_is_served_only_to_logged_in_users(
    viewer_client, anon_client, two_cameras, settings
):
    alert = create_alert(camera=two_cameras[0], face_count=1, boxes=[], snapshot_jpeg=JPEG)
    assert alert.snapshot.name.startswith(f"alerts/{alert.created_at:%Y/%m/%d}/")
    body = viewer_client.get(f"/api/alerts/{alert.pk}/").json()
    assert body["snapshot_url"] == f"/api/alerts/{alert.pk}/snapshot"
    assert "media" not in body["snapshot_url"]

    response = viewer_client.get(body["snapshot_url"])
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert b"".join(response.streaming_content) == JPEG

    assert anon_client.get(body["snapshot_url"]).status_code == 401
    assert anon_client.get(f"/media/{alert.snapshot.name}").status_code == 404


def test_alert_without_snapshot_and_unknown_ids_are_404(viewer_client, two_cameras):
    alert = create_alert(camera=two_cameras[0], face_count=2, boxes=[])
    assert viewer_client.get(f"/api/alerts/{alert.pk}/snapshot/").status_code == 404
    assert viewer_client.get("/api/alerts/424242/").status_code == 404
    assert viewer_client.post("/api/alerts/424242/ack").status_code == 404


def test_deleting_a_camera_deletes_its_alerts_and_snapshot_files(
    operator_client, two_cameras, django_capture_on_commit_callbacks
):
    a, b = two_cameras
    gone = create_alert(camera=a, face_count=1, boxes=[], snapshot_jpeg=JPEG)
    kept = create_alert(camera=b, face_count=1, boxes=[], snapshot_jpeg=JPEG)
    with django_capture_on_commit_callbacks(execute=True):
        operator_client.delete(f"/api/cameras/{a.pk}/")
    assert not Alert.objects.filter(camera_id=a.pk).exists()
    assert not default_storage.exists(gone.snapshot.name)
    assert default_storage.exists(kept.snapshot.name)


def test_an_alert_is_one_insert_plus_its_outbox_row_and_its_event_carries_the_api_fields(
    viewer_client, two_cameras, django_assert_num_queries, django_capture_on_commit_callbacks
):
    # The broadcast runs for real (Redis); the camera's name comes from the caller's Camera. With
    # the alert: its alert.created outbox row and the webhook endpoints that may want it (none).
    with (
        django_assert_num_queries(3) as queries,
        django_capture_on_commit_callbacks(execute=True) as sent,
    ):
        alert = create_alert(camera=two_cameras[1], face_count=2, boxes=[[1, 2, 3, 4, 0.9]])
    assert [q["sql"].split('"')[1] for q in queries.captured_queries] == [
        "alerts_alert",
        "events_event",
        "events_webhookendpoint",
    ]
    assert len(sent) == 1
    listed = viewer_client.get("/api/alerts/").json()["results"][0]
    assert alert_event(alert) == {"type": "alert", "alert": listed}
    assert listed["camera_name"] == "B" and listed["face_count"] == 2


def test_a_list_page_costs_the_same_queries_for_any_number_of_alerts(
    viewer_client, operator, two_cameras, django_assert_num_queries
):
    # Each row shows its camera's name, its acknowledger and its own snapshot URL, all from the
    # page's one query: no query per row, whatever the selector leaves out of the related rows.
    a, b = two_cameras
    alerts = [
        create_alert(camera=(a, b)[i % 2], face_count=1, boxes=[], snapshot_jpeg=JPEG)
        for i in range(6)
    ]
    acknowledge_alert(alerts[1], operator)
    with django_assert_num_queries(2):  # the token's user, and the page
        small = viewer_client.get("/api/alerts/?page_size=2").json()["results"]
    with django_assert_num_queries(2):
        rows = viewer_client.get("/api/alerts/?page_size=6").json()["results"]
    assert [row["id"] for row in small] == [row["id"] for row in rows][:2]
    assert [row["id"] for row in rows] == [alert.pk for alert in reversed(alerts)]
    assert [row["snapshot_url"] for row in rows] == [
        f"/api/alerts/{alert.pk}/snapshot" for alert in reversed(alerts)
    ]
    assert [row["camera_name"] for row in rows] == ["B", "A"] * 3
    assert [row["acknowledged_by"] for row in rows] == [None] * 4 + ["operator", None]


def test_pages_break_timestamp_ties_by_id_and_lead_back_through_previous(
    viewer_client, two_cameras
):
    # Three alerts a second: page boundaries fall inside ties, which the (time, id) keyset breaks
    # without an OFFSET.
    start = datetime(2026, 2, 1, tzinfo=UTC)
    make_alerts(two_cameras[0], 10, start, step=timedelta(seconds=1 / 3))
    for alert in Alert.objects.all():
        Alert.objects.filter(pk=alert.pk).update(created_at=alert.created_at.replace(microsecond=0))
    expected = list(Alert.objects.order_by("-created_at", "-id").values_list("pk", flat=True))

    pages, url = [], "/api/alerts/?page_size=4"
    with CaptureQueriesContext(connection) as queries:
        while url:
            page = viewer_client.get(url).json()
            pages.append([a["id"] for a in page["results"]])
            url, last = page["next"], page
    assert pages == [expected[:4], expected[4:8], expected[8:]]
    assert not any("OFFSET" in query["sql"].upper() for query in queries.captured_queries)

    back, url = [], last["previous"]
    while url:
        page = viewer_client.get(url).json()
        back.append([a["id"] for a in page["results"]])
        url = page["previous"]
    assert back == pages[-2::-1]
    assert viewer_client.get("/api/alerts/?cursor=not-a-cursor").status_code == 404


def test_a_range_that_ends_before_it_starts_is_a_400_naming_until(viewer_client):
    response = viewer_client.get(
        "/api/alerts/?since=2026-03-12T00:00:00Z&until=2026-03-11T00:00:00Z"
    )
    assert response.status_code == 400
    assert response.json() == {"until": ["The end date is before the start date."]}
