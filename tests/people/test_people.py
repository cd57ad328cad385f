"""People: enrolment through the API and the admin with real photos and the real model, the
gallery camera loops match against, alerts that name a person, and deletion that leaves nothing."""

import io
from pathlib import Path

import cv2
import numpy as np
import pytest
from django.core.files.storage import default_storage

from alerts.models import Alert
from alerts.services import alert_event, create_alert
from audit.models import AuditEntry
from detection.detectors import HaarDetector, detect_downscaled
from people import services
from people.models import FaceSample, Person

pytestmark = pytest.mark.django_db

ASSETS = Path(__file__).resolve().parents[1] / "assets"


def jpeg(image: np.ndarray) -> bytes:
    return cv2.imencode(".jpg", image)[1].tobytes()


def upload(name: str, data: bytes) -> io.BytesIO:
    file = io.BytesIO(data)
    file.name = name
    return file


def photo(name: str) -> np.ndarray:
    return cv2.imread(str(ASSETS / name))


@pytest.fixture
def eileen(db) -> Person:
    return services.create_person(name="Eileen Collins", watch_list=True)


def enrol(client, person: Person, data: bytes, name: str = "face.jpg"):
    return client.post(
        f"/api/people/{person.pk}/faces/", {"photo": upload(name, data)}, format="multipart"
    )


def test_an_operator_enrols_a_person_from_a_photo(operator_client):
    response = operator_client.post(
        "/api/people/", {"name": "Eileen Collins", "watch_list": True}, format="json"
    )
    assert response.status_code == 201
    person_id = response.json()["id"]

    response = operator_client.post(
        f"/api/people/{person_id}/faces/",
        {"photo": upload("astronaut.jpg", (ASSETS / "astronaut.jpg").read_bytes())},
        format="multipart",
    )
    assert response.status_code == 201, response.content
    face = response.json()
    assert "descriptor" not in face
    x, y, w, h = face["box"]
    assert abs(x - 177) < 25 and abs(y - 66) < 25 and 70 < w < 130  # the astronaut's face

    listed = operator_client.get(f"/api/people/{person_id}/faces/").json()
    assert [f["id"] for f in listed] == [face["id"]]
    person = operator_client.get(f"/api/people/{person_id}/").json()
    assert person["face_count"] == 1 and person["watch_list"] is True
    picture = operator_client.get(face["photo_url"])
    assert picture.status_code == 200
    assert b"".join(picture.streaming_content) == (ASSETS / "astronaut.jpg").read_bytes()

    sample = FaceSample.objects.get(pk=face["id"])
    assert len(sample.descriptor) == 128
    assert abs(float(np.linalg.norm(sample.descriptor)) - 1.0) < 1e-4


def test_a_photo_without_a_face_is_refused_with_the_reason(operator_client, eileen):
    response = enrol(operator_client, eileen, (ASSETS / "grass.jpg").read_bytes())
    assert response.status_code == 400
    assert response.json() == {"photo": ["no face found"]}
    assert not FaceSample.objects.exists()


def test_a_photo_with_two_faces_is_refused_with_the_reason(operator_client, eileen):
    group = np.hstack([photo("astronaut.jpg")[:512, :512], photo("grace_hopper.jpg")[:512, :512]])
    response = enrol(operator_client, eileen, jpeg(group))
    assert response.status_code == 400
    assert response.json()["photo"][0].startswith("more than one face (2 found)")
    assert not FaceSample.objects.exists()


def test_a_file_that_is_not_an_image_is_refused(operator_client, eileen):
    response = enrol(operator_client, eileen, b"GIF89a not really", "x.jpg")
    assert response.status_code == 400
    assert "photo" in response.json()


def test_only_operators_manage_people(viewer_client, anon_client, eileen):
    assert anon_client.get("/api/people/").status_code == 401
    assert viewer_client.get("/api/people/").status_code == 403
    assert viewer_client.post("/api/people/", {"name": "X"}, format="json").status_code == 403
    response = enrol(viewer_client, eileen, (ASSETS / "astronaut.jpg").read_bytes())
    assert response.status_code == 403
    assert not FaceSample.objects.exists()


def test_the_gallery_names_an_enrolled_face_and_no_one_else(eileen):
    services.add_face(eileen, (ASSETS / "astronaut.jpg").read_bytes(), "a.jpg")
    gallery = services.load_gallery()
    haar = HaarDetector()
    describer = services.describer()

    mirrored = cv2.flip(cv2.resize(photo("astronaut.jpg"), (400, 400)), 1)
    (box,) = detect_downscaled(haar, mirrored, 640, 40)
    identity = gallery.match(describer.describe(mirrored, box))
    assert identity is not None
    assert (identity.person_id, identity.name, identity.watch) == (
        eileen.pk,
        "Eileen Collins",
        True,
    )

    hopper = photo("grace_hopper.jpg")
    (box,) = detect_downscaled(haar, hopper, 640, 40)
    assert gallery.match(describer.describe(hopper, box)) is None


def test_the_gallery_version_changes_with_every_enrolment_change(eileen):
    before = services.gallery_version()
    sample = services.add_face(eileen, (ASSETS / "astronaut.jpg").read_bytes(), "a.jpg")
    added = services.gallery_version()
    assert added != before
    eileen.watch_list = False
    eileen.save()
    assert services.gallery_version() != added
    changed = services.gallery_version()
    services.delete_face(sample)
    assert services.gallery_version() != changed


def test_alerts_carry_the_person_in_the_api_and_the_live_event(viewer_client, camera, eileen):
    named = create_alert(
        camera=camera, face_count=1, boxes=[[1, 2, 3, 4, 0.9]], person_id=eileen.pk, similarity=0.97
    )
    unknown = create_alert(camera=camera, face_count=1, boxes=[[1, 2, 3, 4, 0.9]])

    rows = {a["id"]: a for a in viewer_client.get("/api/alerts/").json()["results"]}
    assert (rows[named.pk]["person"], rows[named.pk]["person_name"]) == (
        eileen.pk,
        "Eileen Collins",
    )
    assert rows[named.pk]["similarity"] == 0.97
    assert (rows[unknown.pk]["person"], rows[unknown.pk]["person_name"]) == (None, None)
    assert alert_event(named)["alert"]["person_name"] == "Eileen Collins"


def test_deleting_a_person_leaves_nothing_of_them_but_nameless_alerts(
    operator_client, camera, eileen, django_capture_on_commit_callbacks
):
    sample = services.add_face(eileen, (ASSETS / "astronaut.jpg").read_bytes(), "a.jpg")
    photo_name = sample.photo.name
    assert default_storage.exists(photo_name)
    alert = create_alert(camera=camera, face_count=1, boxes=[], person_id=eileen.pk)

    with django_capture_on_commit_callbacks(execute=True):
        response = operator_client.delete(f"/api/people/{eileen.pk}/")
    assert response.status_code == 204
    assert not Person.objects.exists()
    assert not FaceSample.objects.exists()
    assert not default_storage.exists(photo_name)
    assert len(services.load_gallery()) == 0
    assert Alert.objects.get(pk=alert.pk).person_id is None
    assert AuditEntry.objects.filter(action="person.delete").exists()
