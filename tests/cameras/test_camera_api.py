"""Camera API contract: CRUD by operators, read-only for viewers, validation and masking."""

import logging

import pytest

from cameras.models import Camera

pytestmark = pytest.mark.django_db

VALID = {"name": "Yard", "url": "rtsp://cam:pw1234@192.168.1.20:554/h264", "location": "Back"}


def test_operator_creates_updates_and_deletes_a_camera(operator_client, caplog):
    caplog.set_level(logging.INFO, logger="skylark.cameras")
    created = operator_client.post("/api/cameras/", VALID, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["url"] == VALID["url"], "operators see the full URL"
    assert body["desired_state"] == "stopped"
    assert body["status"] == "stopped"
    assert body["interval_ms"] == 1000 and body["min_neighbors"] == 6 and body["detector"] == "haar"
    assert body["stream_path"] == f"cam{body['id']}"

    url = f"/api/cameras/{body['id']}/"
    patched = operator_client.patch(url, {"location": "Garden", "interval_ms": 500}, format="json")
    assert patched.status_code == 200
    assert Camera.objects.get(pk=body["id"]).location == "Garden"

    assert operator_client.delete(url).status_code == 204
    assert not Camera.objects.filter(pk=body["id"]).exists()
    # Each write went through the services, which log it.
    assert [r.getMessage() for r in caplog.records if r.name == "skylark.cameras"] == [
        f"event=camera_created camera={body['id']}",
        f"event=camera_updated camera={body['id']} changed=location,interval_ms loop_restarts=no",
        f"event=camera_deleted camera={body['id']}",
    ]


def test_viewer_reads_with_the_password_masked(viewer_client, camera):
    listed = viewer_client.get("/api/cameras/").json()
    assert [c["name"] for c in listed] == ["Front door"]
    assert listed[0]["url"] == "rtsp://admin:***@10.0.0.5:554/stream1"
    detail = viewer_client.get(f"/api/cameras/{camera.pk}/")
    assert "s3cret" not in detail.content.decode()


def test_video_mode_and_detection_sub_stream_are_created_and_updated(operator_client):
    created = operator_client.post("/api/cameras/", VALID, format="json")
    assert created.status_code == 201, created.content
    assert (created.json()["video_mode"], created.json()["detect_url"]) == ("annotated", "")

    sub = "rtsp://cam:pw1234@192.168.1.20:554/sub"
    url = f"/api/cameras/{created.json()['id']}/"
    patched = operator_client.patch(
        url, {"video_mode": "original", "detect_url": sub}, format="json"
    )
    assert patched.status_code == 200, patched.content
    assert (patched.json()["video_mode"], patched.json()["detect_url"]) == ("original", sub)
    row = Camera.objects.get(pk=created.json()["id"])
    assert (row.video_mode, row.detect_url) == ("original", sub)

    original = operator_client.post(
        "/api/cameras/",
        {**VALID, "name": "Gate", "video_mode": "original", "detect_url": sub},
        format="json",
    )
    assert original.status_code == 201, original.content
    assert Camera.objects.get(name="Gate").detect_url == sub

    cleared = operator_client.patch(url, {"detect_url": ""}, format="json")
    assert cleared.status_code == 200 and Camera.objects.get(pk=row.pk).detect_url == ""


@pytest.mark.parametrize(
    "detect_url,reason",
    [
        ("ftp://host/sub", "scheme"),
        ("rtsp:///nohost", "host"),
        ("rtsp://host/with space", "whitespace"),
        ("/etc/passwd", "must be under"),
        ("rtsp://host:99999/x", "malformed"),
    ],
)
def test_an_invalid_detection_sub_stream_is_a_400_naming_the_field(
    operator_client, detect_url, reason
):
    response = operator_client.post(
        "/api/cameras/", {**VALID, "detect_url": detect_url}, format="json"
    )
    assert response.status_code == 400, response.content
    errors = response.json()
    assert list(errors) == ["detect_url"]
    assert reason.lower() in " ".join(errors["detect_url"]).lower()
    assert not Camera.objects.exists()


def test_an_unknown_video_mode_is_a_400_naming_the_field(operator_client):
    response = operator_client.post("/api/cameras/", {**VALID, "video_mode": "raw"}, format="json")
    assert response.status_code == 400
    assert list(response.json()) == ["video_mode"]
    assert "not a valid choice" in response.json()["video_mode"][0]


def test_viewer_sees_the_detection_sub_stream_with_the_password_masked(viewer_client, camera):
    Camera.objects.filter(pk=camera.pk).update(
        video_mode="original", detect_url="rtsp://admin:subs3cret@10.0.0.5:554/stream2"
    )
    detail = viewer_client.get(f"/api/cameras/{camera.pk}/")
    assert detail.json()["detect_url"] == "rtsp://admin:***@10.0.0.5:554/stream2"
    assert detail.json()["video_mode"] == "original"
    listed = viewer_client.get("/api/cameras/")
    assert "subs3cret" not in listed.content.decode() + detail.content.decode()


@pytest.mark.parametrize(
    "method,path,payload",
    [
        ("post", "/api/cameras/", VALID),
        ("patch", "/api/cameras/{id}/", {"name": "x"}),
        ("delete", "/api/cameras/{id}/", None),
        ("post", "/api/cameras/{id}/start", None),
        ("post", "/api/cameras/{id}/stop", None),
    ],
)
def test_viewer_is_refused_on_writes(viewer_client, camera, method, path, payload):
    response = getattr(viewer_client, method)(path.format(id=camera.pk), payload, format="json")
    assert response.status_code == 403
    camera.refresh_from_db()
    assert camera.name == "Front door" and camera.desired_state == "stopped"


def test_anonymous_gets_401(anon_client, camera):
    assert anon_client.get("/api/cameras/").status_code == 401
    assert anon_client.get(f"/api/cameras/{camera.pk}/").status_code == 401


@pytest.mark.parametrize(
    "url,reason",
    [
        ("ftp://host/stream", "scheme"),
        ("rtsp:///nohost", "host"),
        ("rtsp://host/with space", "whitespace"),
        ("-rtsp://host/x", "'-'"),
        ("/etc/passwd", "must be under"),
        ("file:///etc/passwd", "must be under"),
        ("rtsp://h\u00f6st/x", "ASCII"),
        ("rtsp://host/" + "a" * 2000, "too long"),
        ("rtsp://host:99999/x", "malformed"),
        ("", "required"),
    ],
)
def test_invalid_urls_are_a_400_naming_the_field(operator_client, url, reason):
    response = operator_client.post("/api/cameras/", {**VALID, "url": url}, format="json")
    assert response.status_code == 400, response.content
    errors = response.json()
    assert list(errors) == ["url"]
    message = " ".join(errors["url"]).lower()
    assert reason.lower() in message or (reason == "required" and "blank" in message)
    assert not Camera.objects.exists()


def test_file_sources_under_the_allowed_root_are_accepted(operator_client, settings, tmp_path):
    settings.CAMERA_FILE_ROOT = tmp_path
    response = operator_client.post(
        "/api/cameras/", {**VALID, "url": f"file://{tmp_path}/demo.mkv"}, format="json"
    )
    assert response.status_code == 201, response.content
    traversal = operator_client.post(
        "/api/cameras/",
        {**VALID, "name": "other", "url": f"{tmp_path}/../../etc/passwd"},
        format="json",
    )
    assert traversal.status_code == 400


def test_duplicate_name_and_bad_settings_are_field_errors(operator_client, camera):
    response = operator_client.post(
        "/api/cameras/",
        {**VALID, "name": "Front door", "interval_ms": 5, "scale_factor": 5},
        format="json",
    )
    assert response.status_code == 400
    assert set(response.json()) == {"name", "interval_ms", "scale_factor"}


def test_status_fields_are_read_only(operator_client, camera):
    operator_client.patch(
        f"/api/cameras/{camera.pk}/", {"status": "online", "fps_in": 99}, format="json"
    )
    camera.refresh_from_db()
    assert camera.status == "stopped" and camera.fps_in == 0


def test_bad_ids_and_malformed_json(operator_client, camera):
    assert operator_client.get("/api/cameras/999999/").status_code == 404
    assert operator_client.get("/api/cameras/abc/").status_code == 404
    assert operator_client.get("/api/cameras/99999999999999999999/").status_code == 404
    bad = operator_client.post("/api/cameras/", data="{oops", content_type="application/json")
    assert bad.status_code == 400 and "JSON parse error" in bad.json()["detail"]
    wrong_type = operator_client.post(
        "/api/cameras/", data="[1, 2]", content_type="application/json"
    )
    assert wrong_type.status_code == 400
