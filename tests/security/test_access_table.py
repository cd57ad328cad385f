"""Checks every cell of the access table in docs/security.md against a real daphne.

The table in the document is the source: this module parses it, runs each row's request once per
role (anonymous, pending, a viewer of site A, a viewer of site B, operator — real users, each
with fresh credentials; the row's camera belongs to site A), and compares the
answer with the cell. REQUESTS below says *how* to make each row's request; a row without an entry,
an entry without a row, or a URL route that no row reaches fails, so the two cannot drift apart.

The users, camera and alert are created once for the module (PBKDF2 hashing is slow, and daphne
must see committed rows); the database is flushed when the module ends.
"""

import asyncio
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest
import redis
import websockets
from django.conf import settings
from django.core.management import call_command
from django.urls import Resolver404, URLResolver, get_resolver, resolve
from django.utils.crypto import get_random_string
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.models import User
from alerts.routing import websocket_urlpatterns
from alerts.services import create_alert
from audit.services import record
from cameras.mediamtx import read_token
from cameras.models import Camera, CameraGroup
from cameras.naming import preview_key, stream_path
from events.services import create_webhook
from people import services as people_services
from people.models import FaceSample, Person
from tests.conftest import PASSWORD
from tests.support.auth import access_token, session_cookie
from tests.support.cameras import camera_form
from tests.support.processes import Daphne, child_env

from .conftest import http_request

DOC = Path(__file__).resolve().parents[2] / "docs" / "security.md"
TABLE_START = "<!-- access table"
TABLE_END = "<!-- end of access table -->"
ROLES = ["anonymous", "pending", "viewer", "other_site", "operator"]
CSRF = get_random_string(32)  # a client-chosen CSRF secret, sent as cookie and header
JPEG = b"\xff\xd8\xff\xe0 acl \xff\xd9"
PUBLISH_SECRET = "acl-worker-secret-0123456789"


# -- the table -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expected:
    statuses: frozenset[int]
    location: str | None  # where a redirect must point (path prefix)

    @classmethod
    def parse(cls, cell: str) -> "Expected":
        match = re.fullmatch(r"(\d{3}(?: or \d{3})*)(?: → (\S+))?", cell.strip())
        assert match, f"cannot read the cell {cell!r}: write e.g. 200, 302 → /login/, 200 or 503"
        return cls(frozenset(int(c) for c in match[1].split(" or ")), match[2])

    def __str__(self) -> str:
        codes = " or ".join(map(str, sorted(self.statuses)))
        return f"{codes} → {self.location}" if self.location else codes


@dataclass(frozen=True)
class Row:
    endpoint: str  # "GET /api/cameras/{camera}/", "WS /ws/"
    credentials: str
    expected: dict[str, Expected]

    @property
    def key(self) -> tuple[str, str]:
        return self.endpoint, self.credentials


def read_table() -> list[Row]:
    text = DOC.read_text()
    body = text[text.index(TABLE_START) : text.index(TABLE_END)]
    rows = []
    for line in body.splitlines():
        cells = [c.strip().strip("`").strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("|") or cells[0] in ("Endpoint", "") or set(cells[0]) <= {"-"}:
            continue
        endpoint, credentials, *by_role = cells[: 2 + len(ROLES)]
        rows.append(
            Row(endpoint, credentials, dict(zip(ROLES, map(Expected.parse, by_role), strict=True)))
        )
    return rows


TABLE = read_table()


# -- how each row's request is made -----------------------------------------------------------


@dataclass
class World:
    server: Daphne
    users: dict[str, User | None]
    camera: Camera
    alert_id: int
    audit_id: int
    webhook_id: int
    person_id: int
    face_id: int


@dataclass
class Caller:
    """One role making one request; fresh credentials every time (a logout ends a session)."""

    role: str
    user: User | None
    world: World

    def jwt(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {access_token(self.user)}"} if self.user else {}

    def session(self, unsafe: bool = False) -> dict[str, str]:
        cookies = [f"sessionid={session_cookie(self.user)}"] if self.user else []
        headers = {}
        # Unsafe requests carry the CSRF token as the page's form or script does: CSRF is not
        # what this table is about (tests/security/test_auth_tokens.py is).
        if unsafe:
            cookies.append(f"csrftoken={CSRF}")
            headers["X-CSRFToken"] = CSRF
        return {"Cookie": "; ".join(cookies), **headers} if cookies else headers


@dataclass
class Call:
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    content_type: str | None = None  # what a 2xx answer must be
    scratch_camera: int | None = None  # made for this call: gone after it only if it deleted


def as_json(data: dict) -> tuple[bytes, dict[str, str]]:
    return json.dumps(data).encode(), {"Content-Type": "application/json"}


def as_form(data: dict) -> tuple[bytes, dict[str, str]]:
    return urlencode(data).encode(), {"Content-Type": "application/x-www-form-urlencoded"}


def camera_fields(name: str) -> dict:
    return camera_form(name=name, location="Hall", motion_gating=False)


def scratch_camera() -> int:
    return Camera.objects.create(name=f"scratch {uuid.uuid4()}", url="rtsp://s.local/x").pk


def jwt_call(
    method: str, path: str, data=None, content_type="application/json", authenticated=True
):
    """A REST call with the caller's access token; `data` is a dict, or makes one per caller."""

    def build(c: Caller) -> Call:
        body, headers = as_json(data(c) if callable(data) else data) if data else (None, {})
        auth = c.jwt() if authenticated else {}
        return Call(method, path, {**auth, **headers}, body, content_type)

    return build


def page(path: str, content_type: str = "text/html"):
    return lambda c: Call("GET", path, c.session(), content_type=content_type)


def form_post(path: str, data: Callable[[Caller], dict] | None = None):
    def build(c: Caller) -> Call:
        body, headers = as_form(data(c) if data else {})
        return Call("POST", path, {**c.session(unsafe=True), **headers}, body)

    return build


def deleting(build_for: Callable[[str], Callable[[Caller], Call]]):
    """The row acts on a camera made for this call only, so what it deletes can be checked."""

    def build(c: Caller) -> Call:
        pk = scratch_camera()
        call = build_for(str(pk))(c)
        call.scratch_camera = pk
        return call

    return build


def scratch_person() -> Person:
    return Person.objects.create(name=f"scratch {uuid.uuid4()}")


def scratch_face() -> FaceSample:
    return FaceSample.objects.create(
        person=scratch_person(), photo="people/none.jpg", box=[0, 0, 1, 1], descriptor=[0.0] * 128
    )


def face_upload(c: Caller) -> Call:
    """A multipart upload of a real face photo to the world's person."""
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="photo"; filename="a.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + ASTRONAUT.read_bytes()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    headers = {**c.jwt(), "Content-Type": f"multipart/form-data; boundary={boundary}"}
    return Call(
        "POST", f"/api/people/{c.world.person_id}/faces/", headers, body, "application/json"
    )


def mediamtx(action: str) -> Callable[[Caller], Call]:
    def build(c: Caller) -> Call:
        camera = c.world.camera.pk
        secret = ""
        if c.user and action == "read":
            secret = read_token(c.user, camera)
        elif c.user:
            secret = PASSWORD  # a user trying their own account's password
        payload = {
            "user": c.user.username if c.user else "",
            "password": secret if action == "publish" else "",
            "token": secret if action == "read" else "",
            "ip": "127.0.0.1",
            "action": action,
            "path": stream_path(camera),
            "protocol": "webrtc" if action == "read" else "rtsp",
            "id": str(uuid.uuid4()),
            "query": "",
        }
        body, headers = as_json(payload)
        return Call("POST", "/internal/mediamtx/auth", {**c.session(), **headers}, body)

    return build


def login_body(c: Caller) -> dict:
    if c.user is None:
        return {"username": "nobody", "password": "not-a-password"}
    return {"username": c.user.username, "password": PASSWORD}


def new_account(c: Caller) -> dict:
    name = f"new-{uuid.uuid4().hex[:10]}"
    return {"username": name, "password": PASSWORD, "password1": PASSWORD, "password2": PASSWORD}


def wrong_old_password(c: Caller) -> dict:
    new = "another-long-passphrase"
    return {"old_password": "not-it", "new_password1": new, "new_password2": new}


def approve_a_signup(c: Caller) -> dict:
    waiting = User.objects.create_user(f"signup-{uuid.uuid4().hex[:10]}", approved=False)
    return {"user": waiting.pk, "action": "approve", "role": "viewer"}


def refresh_body(c: Caller) -> dict:
    return {"refresh": str(RefreshToken.for_user(c.user)) if c.user else "not-a-refresh-token"}


def websocket(how: str) -> Callable[[Caller], Call]:
    def build(c: Caller) -> Call:
        if how == "query":
            return Call("WS", f"/ws/?token={access_token(c.user)}" if c.user else "/ws/")
        if how == "header":
            return Call("WS", "/ws/", c.jwt())
        origin = {"Origin": c.world.server.http_url}
        return Call("WS", "/ws/", {**c.session(), **origin})

    return build


def webhook_fields(c: Caller) -> dict:
    return {"name": f"Hook {uuid.uuid4()}", "url": "https://93.184.215.14/hook"}


def scratch_webhook_deletion(c: Caller) -> Call:
    pk = create_webhook(name=f"scratch {uuid.uuid4()}", url="https://93.184.215.14/x").pk
    return jwt_call("DELETE", f"/api/webhooks/{pk}/", content_type=None)(c)


C, A, E, W = "{camera}", "{alert}", "{audit}", "{webhook}"
P, F = "{person}", "{face}"
ASTRONAUT = Path(__file__).resolve().parents[1] / "assets" / "astronaut.jpg"
REQUESTS: dict[tuple[str, str], Callable[[Caller], Call]] = {
    # REST API
    ("GET /api/", "JWT"): jwt_call("GET", "/api/"),
    ("GET /api/schema/", "JWT"): jwt_call("GET", "/api/schema/", content_type=None),
    ("GET /api/docs/", "JWT"): jwt_call("GET", "/api/docs/", content_type="text/html"),
    ("POST /api/auth/signup", "none"): jwt_call(
        "POST", "/api/auth/signup", new_account, authenticated=False
    ),
    ("POST /api/auth/login", "username + password"): jwt_call(
        "POST", "/api/auth/login", login_body, authenticated=False
    ),
    ("POST /api/auth/refresh", "refresh token"): jwt_call(
        "POST", "/api/auth/refresh", refresh_body, authenticated=False
    ),
    ("POST /api/auth/logout", "JWT + refresh token"): jwt_call(
        "POST", "/api/auth/logout", refresh_body, content_type=None
    ),
    ("GET /api/auth/me", "JWT"): jwt_call("GET", "/api/auth/me"),
    ("GET /api/cameras/", "JWT"): jwt_call("GET", "/api/cameras/"),
    ("POST /api/cameras/", "JWT"): jwt_call(
        "POST", "/api/cameras/", lambda c: camera_fields(f"API {uuid.uuid4()}")
    ),
    ("GET /api/cameras/{camera}/", "JWT"): jwt_call("GET", f"/api/cameras/{C}/"),
    ("PUT /api/cameras/{camera}/", "JWT"): jwt_call(
        "PUT", f"/api/cameras/{C}/", lambda c: camera_fields(c.world.camera.name)
    ),
    ("PATCH /api/cameras/{camera}/", "JWT"): jwt_call(
        "PATCH", f"/api/cameras/{C}/", {"location": "Hall"}
    ),
    ("DELETE /api/cameras/{camera}/", "JWT"): deleting(
        lambda pk: jwt_call("DELETE", f"/api/cameras/{pk}/", content_type=None)
    ),
    ("POST /api/cameras/{camera}/start", "JWT"): jwt_call("POST", f"/api/cameras/{C}/start"),
    ("POST /api/cameras/{camera}/stop", "JWT"): jwt_call("POST", f"/api/cameras/{C}/stop"),
    ("GET /api/alerts/", "JWT"): jwt_call("GET", "/api/alerts/"),
    ("GET /api/alerts/{alert}/", "JWT"): jwt_call("GET", f"/api/alerts/{A}/"),
    ("POST /api/alerts/{alert}/ack", "JWT"): jwt_call("POST", f"/api/alerts/{A}/ack"),
    ("GET /api/alerts/{alert}/snapshot", "JWT"): jwt_call(
        "GET", f"/api/alerts/{A}/snapshot", content_type="image/jpeg"
    ),
    ("GET /api/audit/", "JWT"): jwt_call("GET", "/api/audit/"),
    ("GET /api/people/", "JWT"): jwt_call("GET", "/api/people/"),
    ("POST /api/people/", "JWT"): jwt_call(
        "POST", "/api/people/", lambda c: {"name": f"API {uuid.uuid4()}"}
    ),
    ("GET /api/people/{person}/", "JWT"): jwt_call("GET", f"/api/people/{P}/"),
    ("PATCH /api/people/{person}/", "JWT"): jwt_call(
        "PATCH", f"/api/people/{P}/", {"notes": "seen at the door"}
    ),
    ("DELETE /api/people/{person}/", "JWT"): lambda c: jwt_call(
        "DELETE", f"/api/people/{scratch_person().pk}/", content_type=None
    )(c),
    ("GET /api/people/{person}/faces/", "JWT"): jwt_call("GET", f"/api/people/{P}/faces/"),
    ("POST /api/people/{person}/faces/", "JWT"): face_upload,
    ("DELETE /api/people/{person}/faces/{face}", "JWT"): lambda c: (
        lambda face: jwt_call(
            "DELETE", f"/api/people/{face.person_id}/faces/{face.pk}", content_type=None
        )(c)
    )(scratch_face()),
    ("GET /api/people/{person}/faces/{face}/photo", "JWT"): jwt_call(
        "GET", f"/api/people/{P}/faces/{F}/photo", content_type="image/jpeg"
    ),
    ("GET /api/audit/{audit}/", "JWT"): jwt_call("GET", f"/api/audit/{E}/"),
    ("GET /api/webhooks/", "JWT"): jwt_call("GET", "/api/webhooks/"),
    ("POST /api/webhooks/", "JWT"): jwt_call("POST", "/api/webhooks/", webhook_fields),
    ("GET /api/webhooks/{webhook}/", "JWT"): jwt_call("GET", f"/api/webhooks/{W}/"),
    ("PUT /api/webhooks/{webhook}/", "JWT"): jwt_call(
        "PUT", f"/api/webhooks/{W}/", {"name": "ACL hook", "url": "https://93.184.215.14/hook"}
    ),
    ("PATCH /api/webhooks/{webhook}/", "JWT"): jwt_call(
        "PATCH", f"/api/webhooks/{W}/", {"enabled": True}
    ),
    ("DELETE /api/webhooks/{webhook}/", "JWT"): scratch_webhook_deletion,
    ("POST /api/webhooks/{webhook}/test", "JWT"): jwt_call("POST", f"/api/webhooks/{W}/test"),
    ("GET /api/webhooks/{webhook}/deliveries", "JWT"): jwt_call(
        "GET", f"/api/webhooks/{W}/deliveries"
    ),
    # WebSocket
    ("WS /ws/", "JWT in ?token="): websocket("query"),
    ("WS /ws/", "JWT in Authorization header"): websocket("header"),
    ("WS /ws/", "session"): websocket("session"),
    # live pictures and media
    ("GET /cameras/{camera}/live.mjpg", "session"): page(
        f"/cameras/{C}/live.mjpg", "multipart/x-mixed-replace"
    ),
    ("GET /cameras/{camera}/snapshot.jpg", "session"): page(
        f"/cameras/{C}/snapshot.jpg", "image/jpeg"
    ),
    ("GET /cameras/{camera}/media-token", "session"): page(
        f"/cameras/{C}/media-token", "application/json"
    ),
    ("POST /internal/mediamtx/auth", "read token"): mediamtx("read"),
    ("POST /internal/mediamtx/auth", "account password"): mediamtx("publish"),
    # dashboard
    ("GET /", "session"): page("/"),
    ("GET /cameras/new/", "session"): page("/cameras/new/"),
    ("POST /cameras/new/", "session"): form_post(
        "/cameras/new/", lambda c: camera_fields(f"Form {uuid.uuid4()}")
    ),
    ("GET /cameras/{camera}/", "session"): page(f"/cameras/{C}/"),
    ("GET /cameras/{camera}/edit/", "session"): page(f"/cameras/{C}/edit/"),
    ("POST /cameras/{camera}/edit/", "session"): form_post(
        f"/cameras/{C}/edit/", lambda c: camera_fields(c.world.camera.name)
    ),
    ("GET /cameras/{camera}/delete/", "session"): deleting(
        lambda pk: page(f"/cameras/{pk}/delete/")
    ),
    ("POST /cameras/{camera}/delete/", "session"): deleting(
        lambda pk: form_post(f"/cameras/{pk}/delete/")
    ),
    ("POST /cameras/{camera}/start/", "session"): form_post(f"/cameras/{C}/start/"),
    ("POST /cameras/{camera}/stop/", "session"): form_post(f"/cameras/{C}/stop/"),
    ("GET /alerts/", "session"): page("/alerts/"),
    ("POST /alerts/{alert}/ack/", "session"): form_post(f"/alerts/{A}/ack/"),
    ("GET /audit/", "session"): page("/audit/"),
    ("GET /webhooks/", "session"): page("/webhooks/"),
    ("POST /webhooks/{webhook}/test/", "session"): form_post(f"/webhooks/{W}/test/"),
    ("GET /login/", "session"): page("/login/"),
    ("POST /login/", "username + password"): form_post("/login/", login_body),
    ("POST /logout/", "session"): form_post("/logout/"),
    ("GET /waiting/", "session"): page("/waiting/"),
    ("GET /accounts/pending/", "session"): page("/accounts/pending/"),
    ("POST /accounts/pending/", "session"): form_post("/accounts/pending/", approve_a_signup),
    ("GET /login/code/", "session"): page("/login/code/"),
    ("GET /account/2fa/", "session"): page("/account/2fa/"),
    ("POST /account/2fa/", "session"): form_post("/account/2fa/", lambda c: {"code": "000000"}),
    ("GET /account/password/", "session"): page("/account/password/"),
    ("POST /account/password/", "session"): form_post("/account/password/", wrong_old_password),
    ("GET /signup/", "session"): page("/signup/"),
    ("POST /signup/", "session"): form_post("/signup/", new_account),
    # admin
    ("GET /admin/", "session"): page("/admin/"),
    ("GET /admin/login/", "session"): page("/admin/login/"),
    ("GET /admin/cameras/camera/", "session"): page("/admin/cameras/camera/"),
    ("GET /admin/accounts/user/", "session"): page("/admin/accounts/user/"),
    # operations and files
    ("GET /healthz", "session"): page("/healthz", "application/json"),
    ("GET /readyz", "session"): page("/readyz", "application/json"),
    ("GET /metrics", "none (from 127.0.0.1)"): lambda c: Call("GET", "/metrics"),
    ("GET /static/skylark/css/app.css", "none"): lambda c: Call(
        "GET", "/static/skylark/css/app.css", content_type="text/css"
    ),
    ("GET /media-not-served/{snapshot file}", "session"): lambda c: Call(
        "GET", "/media-not-served/" + c.world.camera.alerts.get().snapshot.name, c.session()
    ),
}


# -- running a call against the server --------------------------------------------------------


@dataclass
class Outcome:
    status: int
    location: str | None
    content_type: str


async def open_websocket(server: Daphne, call: Call) -> Outcome:
    try:
        async with websockets.connect(
            f"ws://127.0.0.1:{server.port}{call.path}",
            additional_headers={k: v for k, v in call.headers.items() if k != "Origin"},
            origin=call.headers.get("Origin"),
        ):
            return Outcome(101, None, "")
    except websockets.InvalidStatus as refused:
        return Outcome(refused.response.status_code, None, "")


def perform(server: Daphne, call: Call) -> Outcome:
    if call.method == "WS":
        return asyncio.run(open_websocket(server, call))
    answer = http_request(server.port, call.method, call.path, call.headers, call.body)
    location = answer.headers.get("location")
    return Outcome(
        answer.status,
        urlsplit(location).path if location else None,
        answer.headers.get("content-type", ""),
    )


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker, process_logs):
    env = child_env(MEDIAMTX_PUBLISH_SECRET=PUBLISH_SECRET, SIGNUP_ENABLED="1", METRICS_TOKEN="")
    server = Daphne(env, process_logs).start()
    try:
        with django_db_blocker.unblock():
            users = {
                "anonymous": None,
                "pending": User.objects.create_user(
                    "acl-pending", password=PASSWORD, approved=False
                ),
                "viewer": User.objects.create_user(
                    "acl-viewer", password=PASSWORD, all_cameras=False
                ),
                "other_site": User.objects.create_user(
                    "acl-other-site", password=PASSWORD, all_cameras=False
                ),
                "operator": User.objects.create_user(
                    "acl-operator", password=PASSWORD, is_staff=True
                ),
            }
            camera = Camera.objects.create(
                name="ACL camera",
                url="rtsp://cam:pw@192.168.1.30:554/live",
                desired_state="running",
            )
            site_a = CameraGroup.objects.create(name="ACL site A")
            site_a.cameras.add(camera)
            site_a.members.add(users["viewer"])
            site_b = CameraGroup.objects.create(name="ACL site B")
            site_b.cameras.add(Camera.objects.create(name="ACL camera B", url="rtsp://b/live"))
            site_b.members.add(users["other_site"])
            alert = create_alert(camera=camera, face_count=1, boxes=[], snapshot_jpeg=JPEG)
            entry = record("camera.start", camera)
            webhook = create_webhook(name="ACL hook", url="https://93.184.215.14/hook")
            person = people_services.create_person(name="ACL person")
            face = people_services.add_face(person, ASTRONAUT.read_bytes(), "a.jpg")
        yield World(server, users, camera, alert.pk, entry.pk, webhook.pk, person.pk, face.pk)
    finally:
        server.stop()
        with django_db_blocker.unblock():
            call_command("flush", interactive=False, verbosity=0)


@pytest.fixture
def _committed_writes(django_db_blocker):
    """Cells create sessions, tokens and scratch cameras; daphne must see them committed."""
    with django_db_blocker.unblock():
        yield


CELLS = [(row, role) for row in TABLE for role in ROLES]


@pytest.mark.usefixtures("_committed_writes")
@pytest.mark.parametrize(
    "row,role", CELLS, ids=[f"{r.endpoint} [{r.credentials}] as {role}" for r, role in CELLS]
)
def test_access_table_cell(world, row, role):
    assert row.key in REQUESTS, f"say in REQUESTS how to call {row.key}"
    redis.Redis.from_url(settings.REDIS_URL).set(preview_key(world.camera.pk), JPEG, ex=30)
    call = REQUESTS[row.key](Caller(role, world.users[role], world))
    call.path = call.path.replace(C, str(world.camera.pk)).replace(A, str(world.alert_id))
    call.path = call.path.replace(E, str(world.audit_id)).replace(W, str(world.webhook_id))
    call.path = call.path.replace(P, str(world.person_id)).replace(F, str(world.face_id))

    outcome = perform(world.server, call)

    expected = row.expected[role]
    assert outcome.status in expected.statuses, (
        f"{call.method} {call.path} as {role}: {outcome.status}, the table says {expected}"
    )
    if expected.location is not None:
        assert (outcome.location or "").startswith(expected.location), (
            f"{call.method} {call.path} as {role}: redirected to {outcome.location}, the table "
            f"says {expected}"
        )
    if call.content_type and 200 <= outcome.status < 300:
        assert outcome.content_type.startswith(call.content_type)
    if call.scratch_camera is not None:
        # Only an operator's delete deletes (the GET is the confirmation page); a refusal changes
        # nothing.
        deleted = role == "operator" and call.method != "GET"
        assert Camera.objects.filter(pk=call.scratch_camera).exists() != deleted


def test_every_row_has_a_request_and_every_request_a_row():
    in_table = {row.key for row in TABLE}
    assert len(in_table) == len(TABLE), "each (endpoint, credentials) pair once"
    assert set(REQUESTS) - in_table == set(), "requests whose row left the table"


def routes(patterns, prefix: str = "") -> list[str]:
    """Every URL route of the project, as ResolverMatch.route spells it (admin: its root only)."""
    found = []
    for pattern in patterns:
        route = prefix + str(pattern.pattern).removeprefix("^") if prefix else str(pattern.pattern)
        if isinstance(pattern, URLResolver) and route == "admin/":
            found.append(route)  # Django's admin guards all its pages the same way
        elif isinstance(pattern, URLResolver):
            found += routes(pattern.url_patterns, route)
        elif "format" not in pattern.pattern.regex.groupindex:
            found.append(route)  # the API's ".json" format-suffix twins of a route are skipped
    return sorted(set(found))


def test_every_route_is_in_the_table():
    reached = set()
    for row in TABLE:
        method, path = row.endpoint.split(" ", 1)
        path = re.sub(r"\{[^}]+\}", "1", path).split("?")[0]
        if method == "WS":
            reached |= {str(p.pattern) for p in websocket_urlpatterns if p.resolve(path[1:])}
            continue
        try:
            match = resolve(path)
        except Resolver404:  # /static/… and /media-not-served/… are no routes of the project
            continue
        reached.add("admin/" if path.startswith("/admin/") else match.route)
    project_routes = set(routes(get_resolver().url_patterns))
    project_routes |= {str(p.pattern) for p in websocket_urlpatterns}
    assert project_routes - reached == set(), "add these endpoints to docs/security.md's table"
