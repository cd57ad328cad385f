"""Auth API contract: sign-up, login, refresh, me, logout, throttling."""

import time
from datetime import timedelta

import pytest
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from accounts.services import approve_user
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def login(client, username, password):
    return client.post(
        "/api/auth/login", {"username": username, "password": password}, format="json"
    )


def test_signup_creates_a_pending_account_that_sees_nothing_until_approved(
    anon_client, camera, operator, django_user_model
):
    response = anon_client.post(
        "/api/auth/signup", {"username": "newbie", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["role"] == "pending"
    assert "password" not in response.json()
    newbie = django_user_model.objects.get(username="newbie")
    assert not newbie.is_staff

    # It can log in and ask who it is; everything else is refused, with the reason.
    tokens = login(anon_client, "newbie", PASSWORD)
    assert tokens.status_code == 200
    anon_client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens.json()['access']}")
    assert anon_client.get("/api/auth/me").json()["role"] == "pending"
    for path in ("/api/cameras/", f"/api/cameras/{camera.pk}/", "/api/alerts/", "/api/"):
        refused = anon_client.get(path)
        assert refused.status_code == 403, path
        assert refused.json()["detail"] == "This account waits for an operator's approval."

    approve_user(newbie, role="viewer", by=operator)
    assert anon_client.get("/api/auth/me").json()["role"] == "viewer"
    assert [c["id"] for c in anon_client.get("/api/cameras/").json()] == [camera.pk]


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


def test_a_password_change_signs_out_other_sessions_and_every_earlier_token(viewer):
    from django.test import Client

    elsewhere = Client()
    elsewhere.force_login(viewer)
    tokens = APIClient().post(
        "/api/auth/login", {"username": "viewer", "password": PASSWORD}, format="json"
    )
    access, refresh = tokens.json()["access"], tokens.json()["refresh"]
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    assert api.get("/api/cameras/").status_code == 200
    assert elsewhere.get("/").status_code == 200

    here = Client()
    here.force_login(viewer)
    time.sleep(1.0)  # tokens carry whole seconds: the change comes a second after they were issued
    new = "a-brand-new-passphrase"
    changed = here.post(
        "/account/password/",
        {"old_password": PASSWORD, "new_password1": new, "new_password2": new},
    )
    assert changed.status_code == 302
    assert here.get("/").status_code == 200  # this session goes on

    assert elsewhere.get("/").status_code == 302  # to the login page
    refused = api.get("/api/cameras/")
    assert refused.status_code == 401
    assert "before the password changed" in refused.json()["detail"]
    assert (
        APIClient().post("/api/auth/refresh", {"refresh": refresh}, format="json").status_code
        == 401
    )
    assert login(APIClient(), "viewer", PASSWORD).status_code == 401
    fresh = login(APIClient(), "viewer", new)
    assert fresh.status_code == 200
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {fresh.json()['access']}")
    assert api.get("/api/cameras/").status_code == 200
