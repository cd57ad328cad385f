"""Original mode in the browser: the page draws the faces' boxes on a canvas over the playing
WebRTC video (a real WHEP endpoint, aiortc), from the socket's `detections` events."""

import json
import time

import pytest
from playwright.sync_api import Locator, Page, WebSocketRoute, expect

import alerts.realtime
from cameras.models import Camera
from tests.support.threads import in_thread
from tests.support.whep import HEIGHT, WIDTH

pytestmark = pytest.mark.django_db(transaction=True)

FRAME = [640, 360]  # the frame the boxes are in: twice the video's 320x180, as a main stream
FACE = [320, 120, 160, 140, 0.93]  # x, y, w, h, score in FRAME pixels
# Where the canvas sits relative to its video, and what it painted, in CSS pixels: `painted` is
# the bounding rectangle of its non-transparent pixels, `inside` those strictly inside the box.
CANVAS_STATE = """(canvas, box) => {
  const video = canvas.parentElement.querySelector('video');
  const c = canvas.getBoundingClientRect();
  const v = video.getBoundingClientRect();
  const state = {
    rect: { x: c.x - v.x, y: c.y - v.y, width: c.width, height: c.height },
    video: { width: v.width, height: v.height, ready: video.readyState },
    count: 0, inside: 0, painted: null,
  };
  if (!canvas.width || !canvas.height) return state;
  const scale = canvas.width / c.width;
  const { data, width, height } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
  let left = width, top = height, right = -1, bottom = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (data[(y * width + x) * 4 + 3] === 0) continue;
      state.count++;
      left = Math.min(left, x); right = Math.max(right, x);
      top = Math.min(top, y); bottom = Math.max(bottom, y);
      const [cx, cy] = [x / scale, y / scale];
      if (box && cx > box.left + 4 && cx < box.right - 4 && cy > box.top + 4 && cy < box.bottom - 4) {
        state.inside++;
      }
    }
  }
  if (state.count) {
    state.painted = { left: left / scale, top: top / scale, right: (right + 1) / scale, bottom: (bottom + 1) / scale };
  }
  return state;
}"""


@pytest.fixture
def camera(db):
    return Camera.objects.create(
        name="Gate", url="rtsp://gate.local/s", desired_state="running", video_mode="original"
    )


def picture(canvas: Locator) -> dict:
    """Where the 320x180 video's picture is inside its element (object-fit: contain)."""
    video = canvas.evaluate(CANVAS_STATE, None)["video"]
    scale = min(video["width"] / WIDTH, video["height"] / HEIGHT)
    width, height = WIDTH * scale, HEIGHT * scale
    return {
        "x": (video["width"] - width) / 2,
        "y": (video["height"] - height) / 2,
        "width": width,
        "height": height,
    }


def face_on_canvas(canvas: Locator) -> dict:
    """FACE scaled from FRAME to the picture, in the canvas's CSS pixels."""
    shown = picture(canvas)
    sx, sy = shown["width"] / FRAME[0], shown["height"] / FRAME[1]
    x, y, w, h, _ = FACE
    return {"left": x * sx, "top": y * sy, "right": (x + w) * sx, "bottom": (y + h) * sy}


def canvas_state(canvas: Locator) -> dict:
    return canvas.evaluate(CANVAS_STATE, face_on_canvas(canvas))


def assert_face_drawn(canvas: Locator) -> None:
    """The canvas covers the video's picture exactly, and paints the box there and nothing else
    (its outline, and the score's tab just above it)."""
    state = canvas_state(canvas)
    shown = picture(canvas)
    for key in ("x", "y", "width", "height"):
        assert abs(state["rect"][key] - shown[key]) <= 1, (key, state["rect"], shown)
    face = face_on_canvas(canvas)
    painted = state["painted"]
    assert painted, "nothing was drawn"
    assert abs(painted["left"] - face["left"]) <= 3, (painted, face)
    assert abs(painted["right"] - face["right"]) <= 3, (painted, face)
    assert abs(painted["bottom"] - face["bottom"]) <= 3, (painted, face)
    # The score's tab sits on the box's top edge, and is no taller than one line of text.
    assert face["top"] - 30 <= painted["top"] < face["top"] - 5, (painted, face)
    assert state["inside"] == 0, "the face itself stays visible: only the outline is drawn"


def wait_until_playing(page: Page) -> None:
    live = page.locator("[data-live]")
    expect(live.locator("[data-transport]")).to_have_text("WebRTC", timeout=30_000)
    expect(page.locator("#connection")).to_have_attribute("data-state", "connected")
    video = live.locator("video")
    start = video.evaluate("v => v.currentTime")
    page.wait_for_function(
        "([v, t]) => v.readyState >= 2 && v.currentTime > t + 0.3",
        arg=[video.element_handle(), start],
    )


def send_detections(ws: WebSocketRoute, camera_id: int, boxes: list) -> None:
    """A `detections` event into the page's socket, as the server sends it."""
    event = {"type": "detections", "camera": camera_id, "at": time.time(), "size": FRAME}
    ws.send(json.dumps({**event, "boxes": boxes}))


def wait_for(page: Page, condition, timeout: float = 10) -> None:
    """Let the page run (and Playwright dispatch its events) until `condition()` holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        page.wait_for_timeout(50)


def test_detections_are_drawn_over_the_playing_video_and_cleared_when_stale_or_stopped(
    webrtc_server, whep, viewer, camera, open_page
):
    """No server side needed: the page's own socket carries the events, injected into it."""
    whep.start()
    session = open_page(webrtc_server, viewer)
    page = session.page
    sockets: list[tuple[WebSocketRoute, list[dict]]] = []

    def route(ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()
        sent: list[dict] = []
        ws.on_message(lambda message: (sent.append(json.loads(message)), server.send(message)))
        sockets.append((ws, sent))

    page.route_web_socket("**/ws/", route)
    page.goto(f"/cameras/{camera.pk}/", wait_until="domcontentloaded")
    # A picture taller than the video: the video is letterboxed, and so must be its boxes.
    page.add_style_tag(content=".live-picture { aspect-ratio: 4 / 3; }")
    wait_until_playing(page)
    canvas = page.locator("canvas.live-boxes")
    assert picture(canvas)["y"] > 20, "the picture is letterboxed"

    # The page asked for this camera's detections.
    watch = {"type": "watch", "cameras": [camera.pk]}
    wait_for(page, lambda: sockets and watch in sockets[0][1])
    ws = sockets[0][0]
    assert canvas_state(canvas)["count"] == 0

    send_detections(ws, camera.pk, [FACE])
    sent_at = time.monotonic()
    wait_for(page, lambda: canvas_state(canvas)["count"] > 0)
    assert_face_drawn(canvas)

    # Nothing more comes: after 2 s the boxes would be out of date, and go.
    wait_for(page, lambda: canvas_state(canvas)["count"] == 0, timeout=6)
    assert 1.9 <= time.monotonic() - sent_at < 4

    # An empty list clears them at once; another camera's events draw nothing here.
    send_detections(ws, camera.pk, [FACE])
    wait_for(page, lambda: canvas_state(canvas)["count"] > 0)
    send_detections(ws, camera.pk, [])
    wait_for(page, lambda: canvas_state(canvas)["count"] == 0, timeout=1)
    send_detections(ws, camera.pk + 1, [FACE])
    page.wait_for_timeout(300)
    assert canvas_state(canvas)["count"] == 0

    # The socket drops: the page reconnects and watches the camera again.
    ws.close()
    wait_for(page, lambda: len(sockets) == 2 and watch in sockets[1][1])
    ws = sockets[1][0]
    send_detections(ws, camera.pk, [FACE])
    wait_for(page, lambda: canvas_state(canvas)["count"] > 0)
    assert_face_drawn(canvas)

    # The video stops (MediaMTX goes away, the tile falls back to MJPEG): its boxes go with it,
    # though the camera's detections still come.
    whep.stop()
    transport = page.locator("[data-live] [data-transport]")
    deadline = time.monotonic() + 20
    while transport.text_content() != "MJPEG":
        assert time.monotonic() < deadline, "no fallback to MJPEG"
        send_detections(ws, camera.pk, [FACE])
        page.wait_for_timeout(250)
    send_detections(ws, camera.pk, [FACE])
    page.wait_for_timeout(300)
    assert canvas_state(canvas)["count"] == 0
    expect(canvas).to_be_hidden()
    assert session.errors == []


IN_VIEW = """() => [...document.querySelectorAll('[data-camera-tile]')]
  .filter((tile) => {
    const r = tile.querySelector('[data-picture]').getBoundingClientRect();
    return r.bottom > 0 && r.top < innerHeight && r.width > 0;
  })
  .map((tile) => Number(tile.dataset.cameraId))
  .sort((a, b) => a - b)"""


def test_the_grid_watches_the_original_mode_cameras_in_view(daphne_server, viewer, open_page):
    cameras = in_thread(
        lambda: [
            Camera.objects.create(
                name=f"Cam {i}", url=f"rtsp://cam{i}.local/s", video_mode="original"
            )
            for i in range(8)
        ]
    )
    session = open_page(daphne_server, viewer)
    page = session.page
    watches: list[list[int]] = []

    def route(ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()

        def forward(message: str | bytes) -> None:
            event = json.loads(message)
            if event["type"] == "watch":
                watches.append(event["cameras"])
            server.send(message)

        ws.on_message(forward)

    page.route_web_socket("**/ws/", route)
    page.goto("/", wait_until="domcontentloaded")
    wait_for(page, lambda: watches)
    first_in_view = page.evaluate(IN_VIEW)
    assert watches[-1] == first_in_view
    assert cameras[-1].pk not in first_in_view, "the grid is taller than the window"

    page.locator(f"#camera-{cameras[-1].pk}").scroll_into_view_if_needed()
    wait_for(page, lambda: cameras[-1].pk in watches[-1])
    page.wait_for_timeout(300)  # scrolling may take more than one step
    assert watches[-1] == page.evaluate(IN_VIEW)
    assert cameras[0].pk not in watches[-1]
    assert session.errors == []


def test_an_annotated_camera_has_no_canvas(daphne_server, viewer, open_page):
    annotated = in_thread(Camera.objects.create, name="Yard", url="rtsp://yard.local/s")
    page = open_page(daphne_server, viewer).page
    page.goto("/", wait_until="domcontentloaded")
    expect(page.locator(f"#camera-{annotated.pk} video")).to_have_count(1)
    expect(page.locator(f"#camera-{annotated.pk} canvas")).to_have_count(0)


def test_detections_broadcast_by_the_server_are_drawn_on_the_grid(
    webrtc_server, whep, viewer, camera, open_page
):
    whep.start()
    session = open_page(webrtc_server, viewer)
    page = session.page
    page.goto("/", wait_until="domcontentloaded")
    wait_until_playing(page)
    canvas = page.locator(f"#camera-{camera.pk} canvas.live-boxes")

    # The page watches the camera once its socket is up; until the server has that, events for
    # it go nowhere, so the loop sends at the detection rate, as the camera's loop does.
    deadline = time.monotonic() + 15
    while canvas_state(canvas)["count"] == 0:
        assert time.monotonic() < deadline, "no detections reached the page"
        in_thread(
            alerts.realtime.broadcast_detections,
            camera.pk,
            time.time(),
            FRAME,
            [FACE],
        )
        page.wait_for_timeout(200)
    assert_face_drawn(canvas)
    assert session.errors == []
