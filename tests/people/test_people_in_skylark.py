"""Recognition where it meets the rest of Skylark: the admin's enrolment form, a camera's alert
rule, a loop's sink (the gallery it reloads, the person it saves) and the dashboard's alert lists."""

import json
import time
from pathlib import Path

import pytest

from accounts.models import User
from alerts.models import Alert
from alerts.services import create_alert
from cameras.models import Camera
from cameras.naming import lease_key
from config.redis import get_redis
from detection.lease import Lease, LeaseKeeper
from detection.pipeline import AlertEvent
from detection.tasks import CameraSink, pipeline_config
from people import services
from people.models import FaceSample, Person

pytestmark = pytest.mark.django_db

ASSETS = Path(__file__).resolve().parents[1] / "assets"


@pytest.fixture
def superuser(db) -> User:
    return User.objects.create_superuser("root", password="pw-long-enough-123")


def test_the_admin_enrols_a_person_with_a_photo_and_refuses_one_without_a_face(client, superuser):
    client.force_login(superuser)
    with (ASSETS / "grass.jpg").open("rb") as grass:
        refused = client.post(
            "/admin/people/person/add/",
            {"name": "Grace Hopper", "notes": "", "add_photo": grass, **empty_inline()},
        )
    assert refused.status_code == 200
    assert "no face found" in refused.content.decode()
    assert not Person.objects.exists()

    with (ASSETS / "grace_hopper.jpg").open("rb") as photo:
        added = client.post(
            "/admin/people/person/add/",
            {"name": "Grace Hopper", "notes": "", "add_photo": photo, **empty_inline()},
        )
    assert added.status_code == 302
    person = Person.objects.get(name="Grace Hopper")
    sample = FaceSample.objects.get(person=person)
    assert sample.created_by == superuser
    assert len(sample.descriptor) == 128


def empty_inline() -> dict[str, str]:
    return {
        "faces-TOTAL_FORMS": "0",
        "faces-INITIAL_FORMS": "0",
        "faces-MIN_NUM_FORMS": "0",
        "faces-MAX_NUM_FORMS": "1000",
    }


def test_a_cameras_alert_rule_is_set_through_the_api_and_reaches_its_loop(operator_client, camera):
    response = operator_client.patch(
        f"/api/cameras/{camera.pk}/", {"alert_on": "unknown"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["alert_on"] == "unknown"
    camera.refresh_from_db()
    assert pipeline_config(camera).alert_on == "unknown"

    wrong = operator_client.patch(f"/api/cameras/{camera.pk}/", {"alert_on": "all"}, format="json")
    assert wrong.status_code == 400
    assert "alert_on" in wrong.json()


@pytest.mark.django_db(transaction=True)
def test_a_loops_sink_reloads_the_gallery_and_saves_the_person(camera):
    lease = Lease(get_redis(), lease_key(camera.pk), ttl_ms=6000)
    assert lease.acquire()
    keeper = LeaseKeeper(lease)
    keeper.start()
    try:
        sink = CameraSink(camera, keeper, get_redis())
        assert len(sink.gallery()) == 0
        person = services.create_person(name="Eileen Collins")
        services.add_face(person, (ASSETS / "astronaut.jpg").read_bytes(), "a.jpg")
        assert len(sink.gallery()) == 0  # checked again only every few seconds
        sink.next_gallery_check = 0.0
        gallery = sink.gallery()
        assert [s.name for s in gallery.samples] == ["Eileen Collins"]

        sink.on_alert(
            AlertEvent(
                camera_id=camera.pk,
                at=time.time(),
                face_count=1,
                boxes=[[1, 2, 50, 50, 0.9]],
                snapshot_jpeg=b"",
                person_id=person.pk,
                person_name=person.name,
                similarity=0.97,
            )
        )
        alert = Alert.objects.get(camera=camera)
        assert (alert.person_id, alert.similarity) == (person.pk, 0.97)
    finally:
        keeper.stop()
        lease.release()


def test_the_dashboards_alert_lists_show_the_person(client, viewer, camera):
    person = services.create_person(name="Eileen Collins")
    create_alert(camera=camera, face_count=1, boxes=[], person_id=person.pk)
    client.force_login(viewer)

    history = client.get("/alerts/").content.decode()
    assert '<span class="person">Eileen Collins</span>' in history

    page = client.get(f"/cameras/{camera.pk}/").content.decode()
    start = page.index('id="initial-alerts"')
    feed = json.loads(page[page.index(">", start) + 1 : page.index("</script>", start)])
    assert feed[0]["person_name"] == "Eileen Collins"


def test_an_unknown_face_alert_shows_no_name(client, viewer, camera: Camera):
    create_alert(camera=camera, face_count=1, boxes=[])
    client.force_login(viewer)
    assert 'class="person"' not in client.get("/alerts/").content.decode()


def test_alerts_filter_by_person_and_unknown(viewer_client, client, viewer, camera):
    eileen = services.create_person(name="Eileen Collins")
    grace = services.create_person(name="Grace Hopper")
    named = create_alert(camera=camera, face_count=1, boxes=[], person_id=eileen.pk)
    other = create_alert(camera=camera, face_count=1, boxes=[], person_id=grace.pk)
    unknown = create_alert(camera=camera, face_count=1, boxes=[])

    def ids(query: str) -> list[int]:
        response = viewer_client.get(f"/api/alerts/?{query}")
        assert response.status_code == 200, response.content
        return [a["id"] for a in response.json()["results"]]

    assert ids(f"person={eileen.pk}") == [named.pk]
    assert ids("person=unknown") == [unknown.pk]
    assert set(ids("")) == {named.pk, other.pk, unknown.pk}
    bad = viewer_client.get("/api/alerts/?person=someone")
    assert bad.status_code == 400
    assert "person" in bad.json()

    client.force_login(viewer)
    page = client.get(f"/alerts/?person={grace.pk}").content.decode()
    assert f'data-alert-id="{other.pk}"' in page
    assert f'data-alert-id="{named.pk}"' not in page
    assert '<option value="unknown">Unknown faces</option>' in page


def test_the_admins_alert_list_shows_and_filters_by_person(client, superuser, camera):
    eileen = services.create_person(name="Eileen Collins")
    named = create_alert(camera=camera, face_count=1, boxes=[], person_id=eileen.pk)
    create_alert(camera=camera, face_count=1, boxes=[])
    client.force_login(superuser)

    page = client.get(f"/admin/alerts/alert/?person__id__exact={eileen.pk}").content.decode()
    assert page.count('<td class="field-person') == 1
    assert "Eileen Collins" in page
    assert f"/admin/alerts/alert/{named.pk}/change/" in page
