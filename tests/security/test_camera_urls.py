"""Camera URLs are the one user input that reaches FFmpeg: hostile ones are refused with a field
message by the API and the dashboard form alike, and nothing can reach a shell anyway.

The pipeline's subprocesses (the camera's ffmpeg and the publisher's) get the URL as one item of
an argument list, never a shell line.
"""

import ast
import os
import re
import socket
import time
from html import unescape
from pathlib import Path

import pytest
from django.test import Client

from cameras.models import Camera
from detection.capture import CameraFeed
from detection.publisher import Publisher
from simulator.control import free_port
from tests.support.cameras import camera_form

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_password_hashing")]

ROOT = Path(__file__).resolve().parents[2]
VALID = {
    "name": "Yard",
    "url": "rtsp://cam:pw1234@192.168.1.20:554/h264",
    "location": "Back",
    "transport": "tcp",
    "video_mode": "annotated",
    "detector": "haar",
    "interval_ms": 1000,
    "scale_factor": 1.1,
    "min_neighbors": 6,
    "min_face_size": 40,
    "cooldown_s": 10,
}

# url -> a word the field message must contain (for metacharacters: the character itself)
BAD_URLS = {
    # shell metacharacters: harmless here (no shell), refused all the same
    "command substitution": ("rtsp://cam.local/$(reboot)", "$"),
    "variable expansion": ("rtsp://cam.local/${IFS}cat${IFS}/etc/passwd", "$"),
    "backticks": ("rtsp://cam.local/`reboot`", "`"),
    "command separator": ("rtsp://cam.local/live;reboot", ";"),
    "pipe": ("rtsp://cam.local/live|nc", "|"),
    "redirection": ("rtsp://cam.local/live>/tmp/x", ">"),
    "quote": ('rtsp://cam.local/live"x', '"'),
    "backslash": ("rtsp://cam.local/live\\x", "\\"),
    # option injection into ffmpeg/OpenCV
    "an option instead of a URL": ("-i", "'-'"),
    "an option with a value": ("-i /etc/passwd", "whitespace"),
    "a URL starting with a dash": ("-rtsp://cam.local/x", "'-'"),
    "an option appended": ("rtsp://cam.local/x -f lavfi", "whitespace"),
    # FFmpeg protocols that read files, pipes or sockets
    "concat protocol": ("concat:/etc/passwd", "scheme"),
    "subfile protocol": ("subfile,,start,0,end,0,,:/etc/passwd", "scheme"),
    "pipe protocol": ("pipe:0", "scheme"),
    "data protocol": ("data:text/plain,hello", "scheme"),
    "raw tcp": ("tcp://127.0.0.1:6379", "scheme"),
    "hls+file": ("hls+file:///etc/passwd", "scheme"),
    "upper-case file scheme": ("FILE:///etc/passwd", "scheme"),
    # local files outside CAMERA_FILE_ROOT
    "absolute path": ("/etc/passwd", "must be under"),
    "file URL": ("file:///etc/shadow", "must be under"),
    "file URL with a host": ("file://localhost/etc/passwd", "absolute"),
    "dot-dot out of the root": ("{root}/../../../etc/passwd", "must be under"),
    "file URL dot-dot out of the root": ("file://{root}/x/../../../../etc/passwd", "must be under"),
    "a sibling folder sharing the root's prefix": ("{root}-evil/video.mkv", "must be under"),
    "a symlink out of the root": ("{root}/escape/passwd", "must be under"),
    # sizes and characters
    "very long": ("rtsp://cam.local/" + "a" * 5000, "1024"),
    "non-ASCII path": ("rtsp://cam.local/caméra", "ASCII"),
    "IDN host": ("rtsp://bücher.example/live", "ASCII"),
    "right-to-left override": ("rtsp://cam.local/\u202egpj.exe", "ASCII"),
    "zero-width space": ("rtsp://cam\u200b.local/live", "ASCII"),
    "full-width letters": ("ｒｔｓｐ://cam.local/live", "ASCII"),
    "NUL": ("rtsp://cam.local/live\x00.mkv", "ull"),
    "CR LF": ("rtsp://cam.local/live\r\nCSeq: 1", "printable"),
    "terminal escape": ("rtsp://cam.local/\x1b[2J", "printable"),
    "DEL": ("rtsp://cam.local/\x7f", "printable"),
}


@pytest.fixture
def file_root(settings, tmp_path):
    root = tmp_path / "videos"
    root.mkdir()
    (root / "escape").symlink_to("/etc")
    settings.CAMERA_FILE_ROOT = root
    return root


@pytest.fixture
def operator_browser(operator) -> Client:
    client = Client()
    client.force_login(operator)
    return client


@pytest.mark.parametrize("field", ["url", "detect_url"])
@pytest.mark.parametrize("url,reason", BAD_URLS.values(), ids=BAD_URLS.keys())
def test_bad_url_is_refused_by_the_api_and_the_form(
    operator_client, operator_browser, file_root, url, reason, field
):
    url = url.replace("{root}", str(file_root))

    api = operator_client.post("/api/cameras/", {**VALID, field: url}, format="json")
    assert api.status_code == 400, api.content
    assert list(api.json()) == [field], "the error names the field"
    api_message = " ".join(api.json()[field])
    assert reason.lower() in api_message.lower(), api_message

    form = operator_browser.post("/cameras/new/", camera_form(**{field: url}))
    assert form.status_code == 200, "the form is shown again"
    assert set(form.context["form"].errors) == {field}
    form_message = " ".join(form.context["form"].errors[field])
    assert reason.lower() in form_message.lower(), form_message
    assert not Camera.objects.exists()


def url_field_errors(page) -> list[str]:
    """The messages the form page shows under its URL field, as text."""
    html = page.content.decode()
    block = html[html.index("field-name-url") :]
    errors = re.search(r'<ul class="errorlist"[^>]*>(.*?)</ul>', block, re.S)
    assert errors, "the URL field shows an error"
    return [
        unescape(re.sub(r"<[^>]+>", "", item)) for item in re.findall(r"<li>(.*?)</li>", errors[1])
    ]


@pytest.mark.parametrize(
    "url,named",
    [
        ("notaurl", ["no scheme", "rtsp://192.168.1.20:554/stream"]),
        ("not a url", ["no scheme", "whitespace: it has 2 spaces, the first at character 4"]),
        ("cam.local:554/live", ["no scheme"]),
        ("rtsp:cam.local/live", ["no host after rtsp://"]),
        ("gopher://cam.local/", ["scheme 'gopher'"]),
    ],
)
def test_a_mistyped_url_gets_messages_naming_what_is_wrong(operator_browser, url, named):
    messages = url_field_errors(operator_browser.post("/cameras/new/", camera_form(url=url)))
    text = " ".join(messages)
    for words in named:
        assert words in text, messages
    assert "none" not in text and not text.startswith("URL must not contain whitespace."), messages


@pytest.mark.parametrize(
    "url",
    [
        "rtsp://admin:p%24ss%3Bw%7Crd@192.168.1.20:554/Streaming/Channels/101",
        "http://192.168.1.21/cgi-bin/mjpg/video.cgi?channel=1&subtype=1",
        "rtsps://[fd00::21]:322/cam/realmonitor?channel=1&subtype=0",
        "file://{root}/demo.mkv",
    ],
)
def test_real_camera_urls_are_still_accepted(operator_client, file_root, url):
    url = url.replace("{root}", str(file_root))
    response = operator_client.post("/api/cameras/", {**VALID, "url": url}, format="json")
    assert response.status_code == 201, response.content
    assert Camera.objects.get().url == url


@pytest.mark.parametrize(
    "field,value",
    [
        ("transport", "tcp|rtsp_flags;listen"),  # would inject an OpenCV capture option
        ("transport", "tcp;stimeout;1"),
        ("detector", "../../models/evil"),
        ("name", "Yard\x00"),
        ("interval_ms", "1000; DROP TABLE cameras_camera"),
    ],
)
def test_other_camera_fields_refuse_injection(operator_client, field, value):
    response = operator_client.post("/api/cameras/", {**VALID, field: value}, format="json")
    assert response.status_code == 400, response.content
    assert list(response.json()) == [field]
    assert not Camera.objects.exists()


def test_a_request_body_too_large_is_a_400_not_a_crash(operator_client):
    # 3 MB: over Django's DATA_UPLOAD_MAX_MEMORY_SIZE, refused before any parsing
    huge = {**VALID, "url": "rtsp://cam.local/" + "a" * 3_000_000}
    response = operator_client.post("/api/cameras/", huge, format="json")
    assert response.status_code == 400
    assert not Camera.objects.exists()


# -- nothing reaches a shell -------------------------------------------------------------------

SHELL_CALLS = {
    ("os", "system"),
    ("os", "popen"),
    ("subprocess", "getoutput"),
    ("subprocess", "getstatusoutput"),
    ("asyncio", "create_subprocess_shell"),
}
SKIPPED_DIRS = {".venv", "var", ".git", "node_modules", "__pycache__", "build", "dist"}


def project_sources() -> list[Path]:
    sources = []
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in SKIPPED_DIRS and not d.endswith(".egg-info")]
        sources += [Path(folder) / f for f in files if f.endswith(".py")]
    return sources


def shell_uses(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in {m for m, _ in SHELL_CALLS}:
            found += [
                f"line {node.lineno}: from {node.module} import {alias.name}"
                for alias in node.names
                if (node.module, alias.name) in SHELL_CALLS
            ]
        if not isinstance(node, ast.Call):
            continue
        for keyword in node.keywords:
            is_false = isinstance(keyword.value, ast.Constant) and keyword.value.value is False
            if keyword.arg == "shell" and not is_false:
                found.append(f"line {node.lineno}: shell={ast.unparse(keyword.value)}")
        func = node.func
        if (
            isinstance(func, ast.Attribute)
            and isinstance(func.value, ast.Name)
            and (func.value.id, func.attr) in SHELL_CALLS
        ):
            found.append(f"line {node.lineno}: {func.value.id}.{func.attr}()")
    return found


def test_no_code_runs_a_shell():
    offenders = {}
    popen_users = set()
    for path in project_sources():
        tree = ast.parse(path.read_text(), filename=str(path))
        if uses := shell_uses(tree):
            offenders[str(path.relative_to(ROOT))] = uses
        if "subprocess.Popen(" in ast.unparse(tree):
            popen_users.add(str(path.relative_to(ROOT)))
    assert offenders == {}, "run programs with an argument list, never through a shell"
    assert "detection/publisher.py" in popen_users, "the scan sees the code that starts ffmpeg"


def canaries(tmp_path: Path) -> list[Path]:
    return [tmp_path / f"canary{i}" for i in range(5)]


def hostile_url(port: int, files: list[Path]) -> str:
    a, b, c, d, e = files
    return f"rtsp://127.0.0.1:{port}/x;touch {a}|touch {b}`touch {c}`$(touch {d})&&touch {e}"


def children_of(pid: int) -> set[int]:
    pids: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        pids |= {int(p) for p in (task / "children").read_text().split()}
    return pids


def argv_of(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]


def ffmpeg_with(url: str, timeout: float) -> tuple[int, list[str]]:
    """The child ffmpeg whose arguments hold this URL, waiting up to timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for pid in children_of(os.getpid()):
            try:
                argv = argv_of(pid)
            except OSError:  # exited meanwhile
                continue
            if url in argv:
                return pid, argv
        time.sleep(0.05)
    raise AssertionError(f"no child process with the URL as one argument within {timeout} s")


def test_the_publisher_hands_ffmpeg_an_argument_list_not_a_shell_line(tmp_path):
    files = canaries(tmp_path)
    # A server that accepts and never answers: ffmpeg stays in its RTSP handshake to be looked at.
    silent = socket.create_server(("127.0.0.1", 0))
    url = hostile_url(silent.getsockname()[1], files)
    publisher = Publisher(url)
    try:
        publisher.write(b"\x47" + bytes(187))  # the first bytes of a stream start the relay
        _, argv = ffmpeg_with(url, timeout=10)
        assert Path(argv[0]).name == "ffmpeg", "ffmpeg itself, not a shell, is the child"
        assert argv.count(url) == 1, "the URL is one argument, whole"
        assert argv[argv.index("-i") + 1] == "pipe:0", "the only input is the video pipe"
    finally:
        publisher.close()
        silent.close()
    assert not any(f.exists() for f in files), "nothing in the URL was executed"


def test_the_capture_hands_ffmpeg_the_hostile_url_as_one_argument(tmp_path):
    files = canaries(tmp_path)
    states: list[tuple[str, str]] = []
    url = hostile_url(free_port(), files)
    feed = CameraFeed(
        url,
        on_status=lambda status, error: states.append((status, error)),
        open_timeout_ms=2000,
        read_timeout_ms=2000,
    )
    feed.start()
    try:
        _, argv = ffmpeg_with(url, timeout=10)
        assert Path(argv[0]).name in ("ffmpeg", "ffprobe"), argv[0]
        assert argv.count(url) == 1, "the URL is one argument, whole"
        deadline = time.monotonic() + 10
        while not any(s == "offline" for s, _ in states) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        feed.stop()
    assert "offline" in [s for s, _ in states], states
    assert "refused" in dict(states)["offline"]
    assert not any(f.exists() for f in files), "nothing in the URL was executed"
