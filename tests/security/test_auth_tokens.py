"""Forged, foreign and stale JWTs are refused by the REST API and by the WebSocket (real daphne),
and session-authenticated API writes need the CSRF token.

tests/accounts/test_auth_api.py already covers, on the REST API: an expired access token, a
reversed signature, a rotated refresh token used again, a refresh token used after logout, and
login throttling. This adds the forgeries below, on both surfaces, and the WebSocket side.
"""

import asyncio
import base64
import json
import time
import uuid
import warnings

import jwt
import pytest
import websockets
from django.conf import settings
from jwt.warnings import InsecureKeyLengthWarning
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("fast_password_hashing"),
]


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def claims(user, **changes) -> dict:
    now = int(time.time())
    return {
        "token_type": "access",
        "exp": now + 300,
        "iat": now,
        "jti": uuid.uuid4().hex,
        "user_id": str(user.pk),
    } | changes


def alg_none(user, operator) -> str:
    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims(user))}."


def alg_none_capitalised(user, operator) -> str:
    return f"{b64({'alg': 'None', 'typ': 'JWT'})}.{b64(claims(user))}."


def hs512_with_the_right_key(user, operator) -> str:
    with warnings.catch_warnings():  # PyJWT finds the test key short for SHA-512; so be it
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)
        return jwt.encode(claims(user), settings.SECRET_KEY, algorithm="HS512")


def hs256_with_another_key(user, operator) -> str:
    return jwt.encode(
        claims(user), "an attacker's guess at the signing key, long enough", algorithm="HS256"
    )


def payload_swapped_to_the_operator(user, operator) -> str:
    header, _, signature = str(AccessToken.for_user(user)).split(".")
    return f"{header}.{b64(claims(operator))}.{signature}"


def signature_of_another_token(user, operator) -> str:
    header, payload, _ = str(AccessToken.for_user(user)).split(".")
    return f"{header}.{payload}.{str(AccessToken.for_user(operator)).split('.')[2]}"


def expired(user, operator) -> str:
    token = AccessToken.for_user(user)
    token.set_exp(lifetime=-settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"])
    return str(token)


def a_refresh_token(user, operator) -> str:
    return str(RefreshToken.for_user(user))


def a_refresh_token_blacklisted_by_logout(user, operator) -> str:
    refresh = RefreshToken.for_user(user)
    refresh.blacklist()
    return str(refresh)


def of_a_deactivated_user(user, operator) -> str:
    token = str(AccessToken.for_user(user))
    user.is_active = False
    user.save(update_fields=["is_active"])
    return token


def of_a_deleted_user(user, operator) -> str:
    token = str(AccessToken.for_user(user))
    user.delete()
    return token


def garbage(user, operator) -> str:
    return "eyJhbGciOiJIUzI1NiJ9.not-base64!.x"


FORGED = [
    alg_none,
    alg_none_capitalised,
    hs512_with_the_right_key,
    hs256_with_another_key,
    payload_swapped_to_the_operator,
    signature_of_another_token,
    a_refresh_token,
    a_refresh_token_blacklisted_by_logout,
    of_a_deactivated_user,
    of_a_deleted_user,
]
# Already covered on the REST API by tests/accounts; on the WebSocket only by the communicator.
WEBSOCKET_ONLY = [expired, garbage]


@pytest.mark.parametrize("make_token", FORGED, ids=lambda f: f.__name__)
def test_rest_api_refuses_the_token(viewer, operator, make_token):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {make_token(viewer, operator)}")
    me = client.get("/api/auth/me")
    assert me.status_code == 401, me.content
    assert client.get("/api/cameras/").status_code == 401
    assert client.post("/api/cameras/", {"name": "x"}, format="json").status_code == 401


@pytest.mark.parametrize("how", ["query", "header"])
@pytest.mark.parametrize("make_token", FORGED + WEBSOCKET_ONLY, ids=lambda f: f.__name__)
def test_websocket_refuses_the_token(daphne_server, viewer, operator, make_token, how):
    token = make_token(viewer, operator)
    if how == "query":
        connect = websockets.connect(f"{daphne_server.ws_url}?token={token}")
    else:
        connect = websockets.connect(
            daphne_server.ws_url, additional_headers={"Authorization": f"Bearer {token}"}
        )

    async def scenario():
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with connect:
                pass
        assert refused.value.response.status_code == 403

    asyncio.run(scenario())


def test_a_deactivated_users_refresh_token_stops_working(viewer):
    refresh = str(RefreshToken.for_user(viewer))
    viewer.is_active = False
    viewer.save(update_fields=["is_active"])
    response = APIClient().post("/api/auth/refresh", {"refresh": refresh}, format="json")
    assert response.status_code == 401
    assert "access" not in response.json()


def test_session_authenticated_api_writes_need_the_csrf_token(operator, camera):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(operator)
    refused = client.post(f"/api/cameras/{camera.pk}/start")
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["detail"]
    camera.refresh_from_db()
    assert camera.desired_state == "stopped"

    token = client.get("/cameras/new/").cookies["csrftoken"].value
    allowed = client.post(f"/api/cameras/{camera.pk}/start", HTTP_X_CSRFTOKEN=token)
    assert allowed.status_code == 200
    assert allowed.json()["desired_state"] == "running"
