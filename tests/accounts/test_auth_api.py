"""Auth API contract: sign-up, login, refresh, me, logout, throttling."""

from datetime import timedelta

import pytest
from rest_framework_simplejwt.tokens import AccessToken

from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def login(client, username, password):
    return client.post(
        "/api/auth/login", {"username": username, "password": password}, format="json"
    )


def test_signup_creates_a_viewer_who_can_log_in(anon_client, django_user_model):
    response = anon_client.post(
        "/api/auth/signup", {"username": "newbie", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["role"] == "viewer"
    assert "password" not in response.json()
    assert not django_user_model.objects.get(username="newbie").is_staff
    assert login(anon_client, "newbie", PASSWORD).status_code == 200


def test_signup_rejects_a_weak_password_with_a_field_error(anon_client):
    response = anon_client.post(
        "/api/auth/signup", {"username": "weak", "password": "123"}, format="json"
    )
    assert response.status_code == 400
    assert "password" in response.json()


def test_signup_rejects_a_taken_username(anon_client, viewer):
    response = anon_client.post(
        "/api/auth/signup", {"username": "viewer", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 400
    assert "username" in response.json()


def test_signup_disabled_is_refused_with_403(anon_client, settings, django_user_model):
    settings.SIGNUP_ENABLED = False
    response = anon_client.post(
        "/api/auth/signup", {"username": "nope", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 403
    assert "disabled" in response.json()["detail"]
    assert not django_user_model.objects.filter(username="nope").exists()


def test_login_refresh_and_me(anon_client, viewer):
    tokens = login(anon_client, "viewer", PASSWORD).json()
    assert AccessToken(tokens["access"])["user_id"] == str(viewer.pk)

    refreshed = anon_client.post("/api/auth/refresh", {"refresh": tokens["refresh"]}, format="json")
    assert refreshed.status_code == 200
    assert refreshed.json()["access"] != tokens["access"]

    anon_client.credentials(HTTP_AUTHORIZATION=f"Bearer {refreshed.json()['access']}")
    me = anon_client.get("/api/auth/me").json()
    assert me["username"] == "viewer"
    assert me["role"] == "viewer"


def test_wrong_password_is_401(anon_client, viewer):
    response = login(anon_client, "viewer", "wrong-password")
    assert response.status_code == 401


def test_rotated_refresh_token_cannot_be_reused(anon_client, viewer):
    refresh = login(anon_client, "viewer", PASSWORD).json()["refresh"]
    assert (
        anon_client.post("/api/auth/refresh", {"refresh": refresh}, format="json").status_code
        == 200
    )
    again = anon_client.post("/api/auth/refresh", {"refresh": refresh}, format="json")
    assert again.status_code == 401


def test_logout_blacklists_the_refresh_token(anon_client, viewer):
    tokens = login(anon_client, "viewer", PASSWORD).json()
    anon_client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    assert (
        anon_client.post(
            "/api/auth/logout", {"refresh": tokens["refresh"]}, format="json"
        ).status_code
        == 205
    )
    refused = anon_client.post("/api/auth/refresh", {"refresh": tokens["refresh"]}, format="json")
    assert refused.status_code == 401


def test_brute_force_login_is_throttled(anon_client, viewer, settings):
    statuses = [login(anon_client, "viewer", f"guess-{i}").status_code for i in range(100)]
    assert statuses[0] == 401
    assert 429 in statuses
    first_429 = statuses.index(429)
    assert set(statuses[first_429:]) == {429}, "once throttled, every further attempt is refused"
    # Even the right password is refused while throttled.
    assert login(anon_client, "viewer", PASSWORD).status_code == 429


def test_me_requires_authentication(anon_client):
    assert anon_client.get("/api/auth/me").status_code == 401


def test_expired_and_tampered_tokens_are_refused(anon_client, viewer):
    token = AccessToken.for_user(viewer)
    token.set_exp(lifetime=-timedelta(seconds=1))
    anon_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert anon_client.get("/api/auth/me").status_code == 401

    good = str(AccessToken.for_user(viewer))
    header, payload, signature = good.split(".")
    anon_client.credentials(HTTP_AUTHORIZATION=f"Bearer {header}.{payload}.{signature[::-1]}")
    assert anon_client.get("/api/auth/me").status_code == 401


def test_malformed_json_is_a_400_not_a_500(anon_client):
    response = anon_client.post(
        "/api/auth/login", data="{not json", content_type="application/json"
    )
    assert response.status_code == 400
    assert "detail" in response.json()
