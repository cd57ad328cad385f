"""Signing in, what each role sees, and camera management through the dashboard's forms."""

import re

import pytest
from playwright.sync_api import expect

from cameras.models import Camera
from tests.conftest import PASSWORD
from tests.support.threads import in_thread

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def camera(db):
    return Camera.objects.create(
        name="Front door",
        url="rtsp://admin:s3cret@10.0.0.5:554/stream1",
        location="Hall",
        video_mode="original",
        detect_url="rtsp://admin:subs3cret@10.0.0.5:554/stream2",
    )


def test_login_roles_and_camera_form(daphne_server, viewer, operator, camera, open_page):
    session = open_page(daphne_server)
    page = session.page

    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login/\?next=/$"))
    page.get_by_label("Username").fill("viewer")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text(
        "Please enter a correct username and password"
    )

    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{daphne_server.http_url}/")
    tile = page.locator(f"#camera-{camera.pk}")
    expect(tile.get_by_role("heading")).to_have_text("Front door")
    expect(tile).to_contain_text("Hall")
    for name in ("Start", "Stop"):
        expect(page.get_by_role("button", name=name)).to_have_count(0)
    expect(page.get_by_role("link", name=re.compile("Edit|Add camera"))).to_have_count(0)

    page.goto(f"/cameras/{camera.pk}/")
    expect(page.get_by_role("heading", name="Front door")).to_be_visible()
    expect(page.locator(".settings")).to_contain_text("rtsp://admin:***@10.0.0.5:554/stream1")
    expect(page.locator(".settings")).to_contain_text("rtsp://admin:***@10.0.0.5:554/stream2")
    expect(page.locator(".settings")).to_contain_text("Original: the camera's own stream")
    assert "s3cret" not in page.content(), "viewers never get camera passwords"
    assert page.goto("/cameras/new/").status == 403
    assert page.goto(f"/cameras/{camera.pk}/edit/").status == 403

    page.goto("/")
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/login/$"))
    page.get_by_label("Username").fill("operator")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator(f"#camera-{camera.pk}").get_by_role("button", name="Start")).to_be_visible()

    page.get_by_role("link", name="Add camera").click()
    page.get_by_label("Name").fill("Loading bay")
    page.get_by_label("URL", exact=True).fill("ftp://x")
    page.get_by_label("Location").fill("Warehouse")
    page.get_by_role("button", name="Add camera").click()
    url_field = page.get_by_label("URL", exact=True)
    expect(url_field).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#id_url_error")).to_have_text(
        "Unsupported URL scheme 'ftp': a camera URL starts with rtsp://, rtsps://, http:// or "
        "https:// (e.g. rtsp://192.168.1.20:554/stream), or is the path of a video file."
    )
    expect(page.locator(".field-name-url")).to_contain_text("Unsupported URL scheme")

    url_field.fill("rtsp://cam:pw@192.168.1.40:554/live")
    video_mode = page.get_by_label("Video mode")
    expect(video_mode).to_have_value("annotated")
    video_mode.select_option(label="Original: the camera's own stream, boxes drawn by the browser")
    detect_url = page.get_by_label("Detection sub-stream URL")
    detect_url.fill("rtsp://cam:pw@192.168.1.40:554/sub with space")
    page.get_by_label("Detection interval (ms)").fill("500")
    page.get_by_role("button", name="Add camera").click()
    expect(detect_url).to_have_attribute("aria-invalid", "true")
    expect(page.locator(".field-name-detect_url")).to_contain_text("must not contain whitespace")
    expect(url_field).not_to_have_attribute("aria-invalid", "true")
    detect_url.fill("rtsp://cam:pw@192.168.1.40:554/sub")
    page.get_by_role("button", name="Add camera").click()
    expect(page.get_by_role("heading", name="Loading bay")).to_be_visible()
    added = in_thread(Camera.objects.get, name="Loading bay")
    assert (added.url, added.location, added.interval_ms) == (
        "rtsp://cam:pw@192.168.1.40:554/live",
        "Warehouse",
        500,
    )
    assert (added.video_mode, added.detect_url) == (
        "original",
        "rtsp://cam:pw@192.168.1.40:554/sub",
    )
    # Its page shows both to the operator; the edit form comes back with them.
    expect(page.locator(".settings")).to_contain_text("rtsp://cam:pw@192.168.1.40:554/sub")
    page.get_by_role("link", name="Edit").click()
    expect(video_mode).to_have_value("original")
    expect(detect_url).to_have_value("rtsp://cam:pw@192.168.1.40:554/sub")
    page.get_by_role("link", name="Cancel").click()
    expect(page).to_have_url(f"{daphne_server.http_url}/cameras/{added.pk}/")

    page.get_by_role("link", name="Delete").click()
    expect(page.get_by_role("heading")).to_have_text("Delete “Loading bay”?")
    page.get_by_role("button", name="Delete camera").click()
    expect(page).to_have_url(f"{daphne_server.http_url}/")
    expect(page.locator(".flash")).to_contain_text("Camera “Loading bay” deleted.")
    assert not in_thread(Camera.objects.filter(name="Loading bay").exists)
    assert session.errors == []
