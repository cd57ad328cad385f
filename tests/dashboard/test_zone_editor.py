"""The camera page's zones and masks editor in Chromium: operators draw with the mouse or the
keyboard and save through the REST API; its validation messages reach the page; viewers only see."""

import cv2
import numpy as np
import pytest
import redis
from django.conf import settings
from playwright.sync_api import Locator, Page, expect

from cameras.models import Camera
from cameras.naming import preview_key
from tests.support.threads import in_thread

pytestmark = pytest.mark.django_db(transaction=True)

TOLERANCE = 0.01  # a mouse lands on whole CSS pixels: about 0.15 % of a 650-pixel-wide picture
SQUARE = [[0.2, 0.2], [0.6, 0.2], [0.6, 0.7], [0.2, 0.7]]
TRIANGLE = [[0.7, 0.1], [0.9, 0.1], [0.8, 0.3]]


@pytest.fixture
def camera(db):
    return Camera.objects.create(name="Gate", url="rtsp://gate.local/s")


def stored_regions(camera: Camera) -> list[dict]:
    return in_thread(lambda: Camera.objects.get(pk=camera.pk).regions)


def set_regions(camera: Camera, regions: list[dict]) -> None:
    in_thread(lambda: Camera.objects.filter(pk=camera.pk).update(regions=regions))


def assert_points_close(actual: list, expected: list) -> None:
    assert len(actual) == len(expected), (actual, expected)
    for (ax, ay), (ex, ey) in zip(actual, expected, strict=True):
        assert abs(ax - ex) <= TOLERANCE and abs(ay - ey) <= TOLERANCE, (actual, expected)


def at(layer: Locator, x: float, y: float) -> tuple[float, float]:
    """The page coordinates of the frame fraction (x, y) on the editor's picture."""
    layer.scroll_into_view_if_needed()  # the mouse reaches only what is in the viewport
    box = layer.bounding_box()
    assert box
    return box["x"] + x * box["width"], box["y"] + y * box["height"]


def shown_points(page: Page, region: int) -> list[list[float]]:
    """Where the page draws a region's points, back in frame fractions."""
    return page.locator(".zone-layer").evaluate(
        """(svg, region) => {
          const { width, height } = svg.getBoundingClientRect();
          const shape = svg.querySelectorAll('.zone-shape')[region];
          return [...shape.points].map((p) => [p.x / width, p.y / height]);
        }""",
        region,
    )


@pytest.fixture
def open_camera(open_page):
    """open_camera(server, user, camera): the camera's page; at the end, no script errors."""
    sessions = []

    def open_(server, user, camera: Camera) -> Page:
        session = open_page(server, user)
        sessions.append(session)
        return _goto_camera(session.page, camera)

    yield open_
    assert [error for session in sessions for error in session.errors] == []


def _goto_camera(page: Page, camera: Camera) -> Page:
    page.goto(f"/cameras/{camera.pk}/", wait_until="domcontentloaded")
    # A stopped camera has no picture: the polygons go on an empty frame.
    picture_state = "none" if camera.desired_state == "stopped" else "shown"
    expect(page.locator("[data-zone-picture]")).to_have_attribute(
        "data-picture-state", picture_state
    )
    return page


def test_operator_draws_a_zone_with_the_mouse_drags_a_point_saves_and_sees_it_after_reload(
    daphne_server, operator, camera, open_camera
):
    page = open_camera(daphne_server, operator, camera)
    layer = page.locator(".zone-layer")
    page.get_by_role("button", name="Add zone").click()
    for x, y in [(0.1, 0.1), (0.5, 0.1), (0.3, 0.6)]:
        page.mouse.click(*at(layer, x, y))
    done = page.get_by_role("button", name="Done drawing")
    expect(done).to_be_visible()
    page.keyboard.press("Escape")  # or the button: the polygon closes
    expect(done).to_be_hidden()
    expect(layer.locator("polygon.zone-shape")).to_have_count(1)
    expect(layer.locator(".zone-handle")).to_have_count(3)

    # Drag the third point from (0.3, 0.6) to (0.4, 0.8).
    page.mouse.move(*at(layer, 0.3, 0.6))
    page.mouse.down()
    page.mouse.move(*at(layer, 0.35, 0.7), steps=3)
    page.mouse.move(*at(layer, 0.4, 0.8), steps=3)
    page.mouse.up()
    expected = [[0.1, 0.1], [0.5, 0.1], [0.4, 0.8]]
    assert_points_close(shown_points(page, 0), expected)

    unsaved = page.get_by_text("Unsaved changes")
    expect(unsaved).to_be_visible()
    page.get_by_role("button", name="Save").click()
    expect(page.locator("[data-message]")).to_have_text("Saved: 1 zone, 0 masks.")
    expect(unsaved).to_be_hidden()
    regions = stored_regions(camera)
    assert [region["kind"] for region in regions] == ["zone"]
    assert_points_close(regions[0]["points"], expected)

    page.reload()
    expect(layer.locator("polygon.zone-shape")).to_have_count(1)
    expect(layer.locator(".zone-handle")).to_have_count(3)
    assert_points_close(shown_points(page, 0), expected)
    expect(page.locator(".settings")).to_contain_text("1 zone, 0 masks")
    expect(page.get_by_role("button", name="Delete: Zone 1")).to_be_visible()


def test_keyboard_focuses_a_point_moves_it_with_arrows_deletes_another_and_saves(
    daphne_server, operator, camera, open_camera
):
    set_regions(camera, [{"kind": "mask", "points": SQUARE}])
    page = open_camera(daphne_server, operator, camera)
    page.get_by_role("button", name="Save").focus()
    page.keyboard.press("Tab")
    first = page.get_by_role("button", name="Mask 1, point 1 of 4", exact=False)
    expect(first).to_be_focused()
    # The focused point is drawn differently from the others: focus is visible.
    fills = page.locator(".zone-handle").evaluate_all(
        "handles => handles.map((h) => getComputedStyle(h).fill)"
    )
    assert fills[0] != fills[1], fills

    for key in ["ArrowRight", "ArrowRight", "ArrowDown", "Shift+ArrowDown"]:
        page.keyboard.press(key)
    expect(first).to_be_focused()
    expect(first).to_have_accessible_name(
        "Mask 1, point 1 of 4: 22% from the left, 26% from the top"
    )
    # A narrower window redraws the polygons at the new size; the point keeps its focus.
    layer = page.locator(".zone-layer")
    before = layer.get_attribute("viewBox")
    page.set_viewport_size({"width": 1100, "height": 800})
    expect(layer).not_to_have_attribute("viewBox", before or "")
    expect(first).to_be_focused()
    page.keyboard.press("Tab")
    page.keyboard.press("Delete")  # the second point goes; the next one takes the focus
    expect(page.locator(".zone-handle")).to_have_count(3)
    expect(page.get_by_role("button", name="Mask 1, point 2 of 3", exact=False)).to_be_focused()

    page.get_by_role("button", name="Save").click()
    expect(page.locator("[data-message]")).to_have_text("Saved: 0 zones, 1 mask.")
    regions = stored_regions(camera)
    assert [region["kind"] for region in regions] == ["mask"]
    assert_points_close(regions[0]["points"], [[0.22, 0.26], [0.6, 0.7], [0.2, 0.7]])


def test_keyboard_alone_builds_a_polygon_with_add_point(
    daphne_server, operator, camera, open_camera
):
    page = open_camera(daphne_server, operator, camera)
    page.get_by_role("button", name="Add mask").click()
    for number in (1, 2, 3):
        page.get_by_role("button", name="Add point: Mask 1").press("Enter")
        expect(
            page.get_by_role("button", name=f"Mask 1, point {number} of {number}", exact=False)
        ).to_be_focused()
    page.keyboard.press("ArrowLeft")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("[data-message]")).to_have_text("Saved: 0 zones, 1 mask.")
    assert_points_close(stored_regions(camera)[0]["points"], [[0.4, 0.4], [0.6, 0.4], [0.49, 0.6]])


def test_an_invalid_polygon_shows_the_apis_message_and_saves_nothing(
    daphne_server, operator, camera, open_camera
):
    set_regions(camera, [{"kind": "zone", "points": TRIANGLE}])
    page = open_camera(daphne_server, operator, camera)
    layer = page.locator(".zone-layer")
    page.get_by_role("button", name="Add mask").click()
    page.mouse.click(*at(layer, 0.2, 0.2))
    page.mouse.click(*at(layer, 0.4, 0.4))
    page.get_by_role("button", name="Save").click()

    message = page.locator("[data-message]")
    expect(message).to_have_text("Not saved: Region 2: a polygon needs 3 to 64 points.")
    expect(message).to_have_attribute("data-kind", "error")
    assert stored_regions(camera) == [{"kind": "zone", "points": TRIANGLE}]
    # The drawing stays on the page to be fixed: one more point and it saves.
    page.get_by_role("button", name="Add point: Mask 1").click()
    page.get_by_role("button", name="Save").click()
    expect(message).to_have_text("Saved: 1 zone, 1 mask.")
    assert [region["kind"] for region in stored_regions(camera)] == ["zone", "mask"]


def test_a_viewer_sees_zones_and_masks_in_their_colours_but_gets_no_editor(
    daphne_server, viewer, camera, open_camera
):
    set_regions(camera, [{"kind": "zone", "points": SQUARE}, {"kind": "mask", "points": TRIANGLE}])
    page = open_camera(daphne_server, viewer, camera)
    layer = page.locator(".zone-layer")
    expect(layer.locator("polygon.zone-shape")).to_have_count(2)
    strokes = layer.locator(".zone-shape").evaluate_all(
        "shapes => shapes.map((s) => getComputedStyle(s).stroke)"
    )
    assert strokes[0] != strokes[1], strokes
    expect(page.locator(".zone-legend")).to_contain_text("Zone")
    expect(page.locator(".zone-legend")).to_contain_text("Mask")
    assert_points_close(shown_points(page, 1), TRIANGLE)

    expect(layer.locator(".zone-handle")).to_have_count(0)
    expect(layer.locator("[tabindex]")).to_have_count(0)
    for name in ("Add zone", "Add mask", "Save"):
        expect(page.get_by_role("button", name=name)).to_have_count(0)
    page.mouse.click(*at(layer, 0.5, 0.5))
    expect(layer.locator(".zone-shape")).to_have_count(2)


def test_polygons_lie_over_the_cameras_latest_picture_at_its_aspect_ratio(
    daphne_server, viewer, camera, open_camera
):
    """A 4:3 frame from the pipeline's preview (what the MJPEG fallback serves): the picture takes
    its shape, and the polygons are placed in fractions of it."""
    frame = np.full((480, 640, 3), 90, np.uint8)
    jpeg = cv2.imencode(".jpg", frame)[1].tobytes()
    redis.Redis.from_url(settings.REDIS_URL).set(preview_key(camera.pk), jpeg, ex=60)
    in_thread(lambda: Camera.objects.filter(pk=camera.pk).update(desired_state="running"))
    camera.desired_state = "running"
    set_regions(camera, [{"kind": "zone", "points": TRIANGLE}])

    page = open_camera(daphne_server, viewer, camera)
    picture = page.locator("[data-zone-picture]")
    image = picture.locator("img")
    expect(image).to_be_visible()
    image_box, layer_box = image.bounding_box(), page.locator(".zone-layer").bounding_box()
    assert image_box and layer_box
    assert abs(image_box["width"] / image_box["height"] - 4 / 3) < 0.01, image_box
    for key in ("x", "y", "width", "height"):
        assert abs(image_box[key] - layer_box[key]) <= 1, (image_box, layer_box)
    assert_points_close(shown_points(page, 0), TRIANGLE)
