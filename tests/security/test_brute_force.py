"""Password guessing through the dashboard's login form is throttled like the API's login.

The API side (100 rapid attempts → 429, even with the right password) is
tests/accounts/test_auth_api.py::test_brute_force_login_is_throttled.
"""

import pytest
from django.test import Client

from tests.conftest import PASSWORD

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_password_hashing")]


def test_dashboard_login_is_throttled(viewer):
    browser = Client()
    statuses = [
        browser.post("/login/", {"username": "viewer", "password": f"guess-{i}"}).status_code
        for i in range(100)
    ]
    assert statuses[0] == 200, "a wrong password shows the form again"
    assert 429 in statuses, "100 rapid guesses are not all answered"
    first = statuses.index(429)
    assert set(statuses[first:]) == {429}, "once throttled, every further attempt is refused"
    right = browser.post("/login/", {"username": "viewer", "password": PASSWORD})
    assert right.status_code == 429, "even the right password waits"
    assert "_auth_user_id" not in browser.session
