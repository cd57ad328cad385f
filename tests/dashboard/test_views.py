"""The dashboard's views over HTTP (Django's test client): history paging and filters, roles,
start/stop answers, and where tiles play WebRTC from."""

import logging
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from alerts.models import Alert
from alerts.services import acknowledge_alert, create_alert
from alerts.views import PAGE_SIZE
from cameras.models import Camera
from cameras.services import record_status, start_stream
from tests.support.cameras import ADD_START_EDIT_DELETE, camera_form, service_events

pytestmark = pytest.mark.django_db

START = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def cameras(db) -> tuple[Camera, Camera]:
    return (
        Camera.objects.create(name="A", url="rtsp://a.local/s"),
        Camera.objects.create(name="B", url="rtsp://b.local/s"),
    )


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def page_ids(response) -> list[int]:
    return [alert.pk for alert in response.context["alerts"]]


class Links(HTMLParser):
    """Every <a>'s attributes, as a browser sees the rendered page."""

    def __init__(self) -> None:
        super().__init__()
        self.anchors: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.anchors.append(dict(attrs))


def href(response, **attrs: str) -> str | None:
    """The href of the one link with these attributes (e.g. rel="next"), or None."""
    parser = Links()
    parser.feed(response.content.decode())
    found = [a["href"] for a in parser.anchors if all(a.get(k) == v for k, v in attrs.items())]
    assert len(found) <= 1, found
    return found[0] if found else None


def click(client: Client, response, **attrs: str):
    """Follow a rendered link the way a browser resolves it against the page's URL."""
    link = href(response, **attrs)
    assert link is not None, f"no link {attrs}"
    target = urlsplit(urljoin(response.wsgi_request.get_full_path(), link))
    assert target.path == "/alerts/", link
    return client.get(f"{target.path}?{target.query}")


def test_history_pages_through_every_alert_once_without_count_or_offset(viewer, cameras):
    # Pairs of alerts share a timestamp, so the (created_at, id) cursor must break ties.
    for i in range(2 * PAGE_SIZE + 6):
        create_alert(
            camera=cameras[i % 2],
            face_count=1,
            boxes=[],
            created_at=START + timedelta(seconds=i // 2),
        )
    expected = list(Alert.objects.order_by("-created_at", "-id").values_list("pk", flat=True))
    client = signed_in(viewer)

    response = client.get("/alerts/")
    pages = [page_ids(response)]
    assert href(response, rel="prev") is None, "the first page has no newer page"
    with CaptureQueriesContext(connection) as queries:
        while href(response, rel="next"):
            assert href(response, rel="next").startswith("?cursor="), "one ?, not ??"
            response = click(client, response, rel="next")  # "Older →"
            assert response.status_code == 200
            pages.append(page_ids(response))
    assert [pk for page in pages for pk in page] == expected
    assert [len(page) for page in pages] == [PAGE_SIZE, PAGE_SIZE, 6]
    sql = " ".join(query["sql"].upper() for query in queries.captured_queries)
    assert "COUNT(" not in sql and "OFFSET" not in sql

    # And back again through the "← Newer" links.
    last = response
    back = []
    while href(response, rel="prev"):
        response = click(client, response, rel="prev")
        back.append(page_ids(response))
    assert back == pages[-2::-1]
    assert b"back to the newest" in last.content
    newest = click(client, last, rel="first")
    assert page_ids(newest) == pages[0] and href(newest, rel="first") is None


def test_history_links_keep_the_filters(viewer, cameras):
    a, b = cameras
    for i in range(PAGE_SIZE + 3):
        create_alert(camera=a, face_count=1, boxes=[], created_at=START + timedelta(minutes=i))
        create_alert(camera=b, face_count=1, boxes=[], created_at=START + timedelta(minutes=i))
    client = signed_in(viewer)
    first = client.get("/alerts/", {"camera": a.pk, "acknowledged": "false"})
    older = click(client, first, rel="next")
    assert len(page_ids(first)) == PAGE_SIZE and len(page_ids(older)) == 3
    assert {alert.camera_id for alert in older.context["alerts"]} == {a.pk}
    assert older.context["form"]["camera"].value() == str(a.pk)
    assert older.context["form"]["acknowledged"].value() == "false"


def test_history_filters_by_camera_dates_and_acknowledgement(viewer, operator, cameras):
    a, b = cameras
    old = create_alert(camera=a, face_count=1, boxes=[], created_at=START)
    seen = create_alert(camera=a, face_count=2, boxes=[], created_at=START + timedelta(days=1))
    other = create_alert(camera=b, face_count=1, boxes=[], created_at=START + timedelta(days=1))
    acknowledge_alert(seen, operator)
    client = signed_in(viewer)

    assert page_ids(client.get("/alerts/", {"camera": a.pk})) == [seen.pk, old.pk]
    assert page_ids(client.get("/alerts/", {"acknowledged": "false"})) == [other.pk, old.pk]
    assert page_ids(client.get("/alerts/", {"acknowledged": "true"})) == [seen.pk]
    one_day = {"since": "2025-03-02", "until": "2025-03-02"}
    assert set(page_ids(client.get("/alerts/", one_day))) == {seen.pk, other.pk}
    assert page_ids(client.get("/alerts/", {"until": "2025-03-01"})) == [old.pk]

    backwards = client.get("/alerts/", {"since": "2025-03-02", "until": "2025-03-01"})
    assert "The end date is before the start date." in backwards.content.decode()
    assert client.get("/alerts/", {"cursor": "yesterday,7"}).status_code == 400


def test_from_after_to_says_so_and_keeps_every_filter(viewer, cameras):
    a, b = cameras
    create_alert(camera=a, face_count=1, boxes=[], created_at=START)
    create_alert(camera=b, face_count=1, boxes=[], created_at=START)
    query = {"camera": a.pk, "since": "2025-03-02", "until": "2025-03-01", "acknowledged": "false"}
    response = signed_in(viewer).get("/alerts/", query)
    assert response.status_code == 200
    html = response.content.decode()
    assert "To: The end date is before the start date." in html, "a message naming the field"
    assert page_ids(response) == [], "no list that ignores some of the filters"
    assert "data-alert-id" not in html
    # The form shows every filter as the user entered it.
    assert f'<option value="{a.pk}" selected>A</option>' in html
    assert 'name="since" value="2025-03-02"' in html
    assert 'name="until" value="2025-03-01"' in html
    assert '<option value="false" selected>Unacknowledged</option>' in html


def test_acknowledge_answers_scripts_and_plain_forms(viewer, cameras):
    alert = create_alert(camera=cameras[0], face_count=1, boxes=[])
    client = signed_in(viewer)
    response = client.post(f"/alerts/{alert.pk}/ack/", HTTP_ACCEPT="application/json", follow=False)
    assert response.json()["acknowledged_by"] == "viewer"
    other = create_alert(camera=cameras[0], face_count=1, boxes=[])
    response = client.post(f"/alerts/{other.pk}/ack/", {"next": "/alerts/?acknowledged=false"})
    assert response.status_code == 302 and response.url == "/alerts/?acknowledged=false"
    response = client.post(f"/alerts/{other.pk}/ack/", {"next": "https://evil.example/"})
    assert response.url == "/alerts/", "only same-site redirects"
    assert client.get(f"/alerts/{alert.pk}/ack/").status_code == 405


def test_camera_management_is_for_operators_only(viewer, operator, cameras):
    camera = cameras[0]
    anonymous = Client()
    assert anonymous.get("/").url == "/login/?next=/"
    assert anonymous.post(f"/cameras/{camera.pk}/stop/").url.startswith("/login/")

    as_viewer = signed_in(viewer)
    for method, path in [
        ("get", "/cameras/new/"),
        ("get", f"/cameras/{camera.pk}/edit/"),
        ("post", f"/cameras/{camera.pk}/delete/"),
        ("post", f"/cameras/{camera.pk}/start/"),
        ("post", f"/cameras/{camera.pk}/stop/"),
    ]:
        assert getattr(as_viewer, method)(path).status_code == 403, path
    assert Camera.objects.filter(pk=camera.pk).exists()

    as_operator = signed_in(operator)
    Camera.objects.filter(pk=camera.pk).update(desired_state="running")
    answer = as_operator.post(f"/cameras/{camera.pk}/stop/", HTTP_ACCEPT="application/json")
    assert answer.json() | {"id": camera.pk, "desired_state": "stopped"} == answer.json()
    plain = as_operator.post(f"/cameras/{camera.pk}/start/", {"next": "/"})
    assert plain.url == "/"
    camera.refresh_from_db()
    assert camera.desired_state == "running"


def test_operator_adds_edits_and_deletes_a_camera_through_the_services(operator, caplog):
    caplog.set_level(logging.INFO, logger="skylark.cameras")
    client = signed_in(operator)
    added = client.post("/cameras/new/", camera_form())
    camera = Camera.objects.get(name="Yard")
    assert added.status_code == 302 and added.url == f"/cameras/{camera.pk}/"
    assert camera.desired_state == "stopped"

    # While the operator edits, the camera is started and its loop reports: the save keeps that.
    start_stream(camera)
    record_status(camera.pk, status="online", fps_in=15.0)
    edited = client.post(f"/cameras/{camera.pk}/edit/", camera_form(location="Garden"))
    assert edited.status_code == 302 and edited.url == f"/cameras/{camera.pk}/"
    camera.refresh_from_db()
    assert (camera.location, camera.desired_state, camera.status) == ("Garden", "running", "online")

    refused = client.post(f"/cameras/{camera.pk}/edit/", camera_form(interval_ms=5))
    assert refused.status_code == 200 and "interval_ms" in refused.context["form"].errors
    assert Camera.objects.get(pk=camera.pk).interval_ms == 1000

    deleted = client.post(f"/cameras/{camera.pk}/delete/")
    assert deleted.status_code == 302 and deleted.url == "/"
    assert not Camera.objects.filter(pk=camera.pk).exists()
    assert service_events(caplog) == ADD_START_EDIT_DELETE


def test_tiles_play_webrtc_only_when_mediamtx_is_configured(settings, viewer, cameras):
    client = signed_in(viewer)
    settings.MEDIAMTX_WEBRTC_URL = ""
    assert b"data-whep-url" not in client.get("/").content
    settings.MEDIAMTX_WEBRTC_URL = "https://media.example:8889/"
    page = client.get(f"/cameras/{cameras[0].pk}/").content.decode()
    assert f'data-whep-url="https://media.example:8889/cam{cameras[0].pk}/whep"' in page


def test_sign_up_waits_for_an_operator_who_lets_it_in_unless_disabled(
    settings, django_user_model, camera, operator
):
    client = Client()
    assert b"Create an account" in client.get("/login/").content
    response = client.post(
        "/signup/",
        {
            "username": "newcomer",
            "password1": "a-long-passphrase",
            "password2": "a-long-passphrase",
        },
    )
    assert response.status_code == 302 and response.url == "/"
    newcomer = django_user_model.objects.get(username="newcomer")
    assert newcomer.role == "pending"
    # Every page sends it to the page that says it waits; video and tokens are refused.
    for path in ("/", f"/cameras/{camera.pk}/", "/alerts/"):
        waiting = client.get(path)
        assert waiting.status_code == 302 and waiting.url == "/waiting/", path
    assert "Waiting for approval" in client.get("/waiting/").content.decode()
    for path in (f"/cameras/{camera.pk}/snapshot.jpg", f"/cameras/{camera.pk}/media-token"):
        assert client.get(path).status_code == 403, path

    # The operator sees it waiting and approves it as a viewer, from the page.
    ops = signed_in(operator)
    listed = ops.get("/accounts/pending/").content.decode()
    assert "newcomer" in listed and 'value="approve"' in listed
    approved = ops.post(
        "/accounts/pending/", {"user": newcomer.pk, "action": "approve", "role": "viewer"}
    )
    assert approved.status_code == 302 and approved.url == "/accounts/pending/"
    after = ops.get("/accounts/pending/").content.decode()
    assert "Account “newcomer” approved as viewer." in after  # the message, not a row
    assert f'data-user-id="{newcomer.pk}"' not in after
    assert client.get("/").status_code == 200
    assert django_user_model.objects.get(username="newcomer").role == "viewer"

    # Another sign-up, rejected: the account is gone.
    stranger = django_user_model.objects.create_user("stranger", approved=False)
    ops.post("/accounts/pending/", {"user": stranger.pk, "action": "reject"})
    assert not django_user_model.objects.filter(username="stranger").exists()

    settings.SIGNUP_ENABLED = False
    client = Client()
    assert client.get("/signup/").status_code == 404
    assert b"Create an account" not in client.get("/login/").content
