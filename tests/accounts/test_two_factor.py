"""Two-factor authentication with real TOTP codes: set up, the dashboard's and the API's login,
each code good once, and operators held to it when the installation requires it."""

import re
import time

import pyotp
import pytest
from django.test import Client
from rest_framework.test import APIClient

from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def code(secret: str, steps_ahead: int = 0) -> str:
    """The code of the current 30-second step, or of a later one (accepted one step ahead)."""
    return pyotp.TOTP(secret).at(int(time.time()) + 30 * steps_ahead)


def set_up(client: Client) -> str:
    page = client.get("/account/2fa/").content.decode()
    assert "<svg" in page  # the QR code
    secret = re.search(r"data-totp-secret>([A-Z2-7]+)<", page)[1]
    wrong = client.post("/account/2fa/", {"code": "000000"})
    assert "not right" in wrong.content.decode()
    assert client.post("/account/2fa/", {"code": code(secret)}).status_code == 302
    return secret


def test_a_user_sets_it_up_and_the_login_then_asks_for_a_code(viewer):
    browser = Client()
    browser.force_login(viewer)
    secret = set_up(browser)
    viewer.refresh_from_db()
    assert viewer.has_2fa

    login = Client()
    step_one = login.post("/login/", {"username": "viewer", "password": PASSWORD})
    assert step_one.status_code == 302 and step_one.url == "/login/code/"
    assert login.get("/").status_code == 302  # not logged in yet
    wrong = login.post("/login/code/", {"code": "123456"})
    assert wrong.status_code == 200 and "not right" in wrong.content.decode()
    right = login.post("/login/code/", {"code": code(secret, 1)})
    assert right.status_code == 302 and right.url == "/"
    assert login.get("/").status_code == 200

    # The same code again (say, seen over a shoulder) is refused.
    again = Client()
    again.post("/login/", {"username": "viewer", "password": PASSWORD})
    assert "not right" in again.post("/login/code/", {"code": code(secret, 1)}).content.decode()


def test_the_api_login_wants_the_code_beside_the_password(viewer):
    browser = Client()
    browser.force_login(viewer)
    secret = set_up(browser)
    api = APIClient()
    credentials = {"username": "viewer", "password": PASSWORD}
    missing = api.post("/api/auth/login", credentials, format="json")
    assert missing.status_code == 401 and "code required" in missing.json()["detail"]
    wrong = api.post("/api/auth/login", {**credentials, "code": "000000"}, format="json")
    assert wrong.status_code == 401
    right = api.post("/api/auth/login", {**credentials, "code": code(secret, 1)}, format="json")
    assert right.status_code == 200 and "access" in right.json()


def test_operators_without_it_only_watch_when_the_installation_requires_it(settings, operator):
    settings.REQUIRE_2FA_FOR_OPERATORS = True
    browser = Client()
    browser.force_login(operator)
    held = browser.get("/cameras/new/")
    assert held.status_code == 302 and held.url == "/account/2fa/"
    assert browser.get("/").status_code == 200  # watching is fine
    api = APIClient()
    api.force_authenticate(operator)
    assert api.get("/api/cameras/").status_code == 200
    refused = api.post("/api/cameras/", {"name": "x", "url": "rtsp://10.0.0.9/x"}, format="json")
    assert refused.status_code == 403 and "two-factor" in refused.json()["detail"]

    set_up(browser)
    assert browser.get("/cameras/new/").status_code == 200
    operator.refresh_from_db()  # as the next request would load it
    api.force_authenticate(operator)
    added = api.post("/api/cameras/", {"name": "x", "url": "rtsp://10.0.0.9/x"}, format="json")
    assert added.status_code == 201


def test_turning_it_off_takes_a_current_code(viewer):
    browser = Client()
    browser.force_login(viewer)
    secret = set_up(browser)
    assert "not right" in browser.post("/account/2fa/", {"code": "111111"}).content.decode()
    assert browser.post("/account/2fa/", {"code": code(secret, 1)}).status_code == 302
    viewer.refresh_from_db()
    assert not viewer.has_2fa
