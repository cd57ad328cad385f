"""Browser fixtures for the dashboard tests: Debian's Chromium driven by Playwright's sync API.

Playwright's sync API keeps an asyncio loop running on the test's thread. There Django refuses
ORM calls and async_to_sync (the Channels broadcasts) cannot run, so once a browser is open,
database work goes through `in_thread` (tests/support/threads.py).
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from tests.support.auth import session_cookie
from tests.support.processes import Daphne, child_env, free_port
from tests.support.threads import in_thread
from tests.support.whep import WhepResponder

ASSETS = Path(__file__).resolve().parents[1] / "assets"
CHROMIUM = "/usr/bin/chromium"
BROWSER_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    # Keep the browser off the network: without these it looks up Google hosts at start-up and
    # announces its WebRTC host candidates as mDNS names by multicast.
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
]
DESKTOP = {"width": 1280, "height": 800}


def astronaut_jpeg(box: bool = True, width: int = 640) -> bytes:
    """A real photograph (tests/assets) on a wider canvas, with the face boxed like the pipeline does."""
    portrait = cv2.imread(str(ASSETS / "astronaut.jpg"))
    canvas = cv2.resize(cv2.imread(str(ASSETS / "grass.jpg")), (width, width * 9 // 16))
    scale = canvas.shape[0] / portrait.shape[0]
    portrait = cv2.resize(portrait, None, fx=scale, fy=scale)
    x0 = (canvas.shape[1] - portrait.shape[1]) // 2
    canvas[:, x0 : x0 + portrait.shape[1]] = portrait
    if box:
        x, y, w, h = (int(v * scale) for v in (177, 66, 95, 95))
        cv2.rectangle(canvas, (x0 + x, y), (x0 + x + w, y + h), (0, 220, 0), 2)
    return cv2.imencode(".jpg", canvas, [cv2.IMWRITE_JPEG_QUALITY, 85])[1].tobytes()


@dataclass
class BrowserSession:
    """A signed-in page plus the script errors it raised (tests assert there were none)."""

    context: BrowserContext
    page: Page
    errors: list[str] = field(default_factory=list)


@pytest.fixture(scope="package")
def daphne_server(django_db_setup, django_db_blocker, process_logs):
    """One daphne for the whole package (tests/conftest.py starts one per module): it only serves,
    every test brings its own rows, and its startup is the slow part of many tests here."""
    with django_db_blocker.unblock():
        server = Daphne(child_env(), process_logs).start()
    yield server
    server.stop()


@pytest.fixture
def whep() -> Iterator[WhepResponder]:
    responder = WhepResponder(free_port())
    yield responder
    if responder.running:
        responder.stop()


@pytest.fixture
def webrtc_server(django_db_blocker, process_logs, whep) -> Iterator[Daphne]:
    """Daphne whose settings point MEDIAMTX_WEBRTC_URL at the WHEP responder."""
    with django_db_blocker.unblock():
        server = Daphne(child_env(MEDIAMTX_WEBRTC_URL=whep.url), process_logs).start()
    whep.allowed_origin = server.http_url
    yield server
    server.stop()


@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def open_page(browser: Browser) -> Callable[..., BrowserSession]:
    """open_page(server, user=None, viewport=DESKTOP): a new page, signed in as `user` if given."""

    def open_(server, user=None, viewport: dict = DESKTOP) -> BrowserSession:
        context = browser.new_context(base_url=server.http_url, viewport=viewport)
        if user is not None:
            cookie = in_thread(session_cookie, user)
            context.add_cookies([{"name": "sessionid", "value": cookie, "url": server.http_url}])
        page = context.new_page()
        page.set_default_timeout(30_000)  # generous: CI machines are shared and loaded
        session = BrowserSession(context, page)
        page.on("pageerror", lambda error: session.errors.append(str(error)))
        return session

    return open_
