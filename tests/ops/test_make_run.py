"""`make run` in a fresh clone: within 90 s the demo is live (login, both cameras online, an alert
over the WebSocket); one SIGINT stops every process it started."""

import asyncio
import json
import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
import websockets

from simulator.control import free_port

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(300)


def session_members(sid: int) -> list[str]:
    """Command lines of the live processes in session `sid` (what Ctrl-C should have ended)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[3]) == sid and fields[0] != "Z":
                members.append((stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except (OSError, IndexError, ValueError):
            continue
    return members


def api(port: int, path: str, data: dict | None = None, token: str | None = None) -> dict | list:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    if data is not None:
        request.data = json.dumps(data).encode()
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def until(deadline: float, what: str, probe):
    while time.monotonic() < deadline:
        try:
            if result := probe():
                return result
        except OSError:
            pass
        time.sleep(1)
    raise AssertionError(f"not within 90 s: {what}")


def test_make_run_serves_the_live_demo_and_stops_on_ctrl_c(tmp_path):
    clone = tmp_path / "skylark"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    # Reuse this checkout's virtualenv: the set-up steps then find everything installed.
    (clone / ".venv").symlink_to(ROOT / ".venv")
    stamp = (ROOT / ".venv" / ".installed").stat().st_mtime
    os.utime(clone / "pyproject.toml", (stamp - 60, stamp - 60))
    port, rtsp_port = free_port(), free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SKYLARK_TEST"))},
        "SKYLARK_PORT": str(port),
        "DEMO_RTSP_PORT": str(rtsp_port),
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/skylark_makerun",
        "REDIS_URL": "redis://127.0.0.1:6379/13",
        "SKYLARK_VIDEO_CACHE": str(ROOT / "var" / "videos"),
        "MEDIAMTX_BIN": "",
    }
    subprocess.run(["redis-cli", "-n", "13", "flushdb"], check=True, capture_output=True)
    log = (tmp_path / "make-run.log").open("wb")
    make = subprocess.Popen(
        ["make", "run"],
        cwd=clone,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        # Set-up (migrations, demo videos) comes first; the 90 s count from the server's start.
        until(time.monotonic() + 240, "the server to listen", lambda: api(port, "/healthz"))
        deadline = time.monotonic() + 90
        tokens = until(
            deadline,
            "login",
            lambda: api(port, "/api/auth/login", {"username": "demo", "password": "demo-pass-123"}),
        )
        token = tokens["access"]

        def both_online():
            cameras = api(port, "/api/cameras/", token=token)
            return len(cameras) == 2 and all(c["status"] == "online" for c in cameras)

        until(deadline, "both demo cameras online", both_online)

        async def first_alert() -> dict:
            async with websockets.connect(f"ws://127.0.0.1:{port}/ws/?token={token}") as ws:
                await ws.send(json.dumps({"type": "resume", "after_id": 0}))
                async with asyncio.timeout(max(1.0, deadline - time.monotonic())):
                    while (message := json.loads(await ws.recv()))["type"] != "alert":
                        pass
                return message["alert"]

        alert = asyncio.run(first_alert())
        assert alert["face_count"] >= 1 and alert["camera_name"].startswith("Demo")
        assert time.monotonic() < deadline
    finally:
        os.killpg(make.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
        try:
            make.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(make.pid, signal.SIGKILL)
            raise
        finally:
            log.close()
    time.sleep(1)
    assert session_members(make.pid) == [], (tmp_path / "make-run.log").read_text()[-3000:]
    output = (tmp_path / "make-run.log").read_text()
    for name in ("web.1", "streams.1", "default.1", "beat.1", "camera.1"):
        assert f"{name} started" in output


@pytest.mark.parametrize("mediamtx", ["", "/usr/bin/mediamtx"])
def test_make_run_echoes_its_command_without_a_stray_backslash(mediamtx):
    dry_run = subprocess.run(
        ["make", "-n", "run", f"MEDIAMTX_BIN={mediamtx}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    (honcho,) = [line for line in dry_run if "honcho start" in line]
    assert honcho.endswith("mediamtx") == bool(mediamtx)
    assert ("MEDIAMTX_PUBLISH_SECRET=" in honcho) == bool(mediamtx), "one line, env and command"
    assert not [line for line in dry_run if line.strip() == "\\"]
