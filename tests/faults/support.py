"""Helpers of the fault tests: waiting, reading what the real processes report, dashboards."""

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import websockets

from alerts.realtime import events_in
from simulator.control import RtspReceiver
from tests.support.processes import ROOT, CeleryWorker, Process

T = TypeVar("T")


def wait_for(predicate: Callable[[], T], timeout: float, what: str, interval: float = 0.1) -> T:
    """The first truthy value of predicate(), polling until timeout; AssertionError after."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def camera_row(camera_id: int) -> dict:
    """What the loop last reported for the camera, straight from the database."""
    from django.db import connection

    from cameras.models import Camera

    try:
        return Camera.objects.filter(pk=camera_id).values().get()
    finally:
        connection.close()


def alert_ids(camera_ids: list[int] | None = None) -> list[int]:
    from django.db import connection

    from alerts.models import Alert

    try:
        alerts = Alert.objects.all()
        if camera_ids is not None:
            alerts = alerts.filter(camera_id__in=camera_ids)
        return list(alerts.order_by("id").values_list("id", flat=True))
    finally:
        connection.close()


def metric(port: int, name: str, camera_id: int) -> float | None:
    """A per-camera value from a worker's /metrics endpoint (None if it has none yet)."""
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    found = re.search(rf'^{name}{{camera="{camera_id}"}} (\S+)$', body, re.MULTILINE)
    return float(found.group(1)) if found else None


def publisher_pids(url: str) -> list[int]:
    """Live ffmpeg processes publishing to exactly this URL (other suites on the machine run
    publishers too: the URL's port, free when the test took it, tells ours apart)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            comm = (entry / "comm").read_text().strip()
        except OSError:
            continue
        receiving = b"listen" in argv  # the stand-in media server's ffmpeg, not a publisher
        if comm == "ffmpeg" and url.encode() in argv and not receiving and alive(int(entry.name)):
            pids.append(int(entry.name))
    return pids


def alive(pid: int) -> bool:
    """Whether the process exists and is not a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def kill_all(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


class KeepListening:
    """Keeps an RtspReceiver listening: ffmpeg's listen mode takes one publishing session and
    exits when it ends (MediaMTX takes the next one by itself), so start it again each time.

    sessions counts the publishing sessions that delivered frames.
    """

    def __init__(self, receiver: RtspReceiver) -> None:
        self.receiver = receiver
        self.sessions = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> "KeepListening":
        self._stop.clear()
        if not self.receiver.running:
            self.receiver.start()
        self._thread = threading.Thread(target=self._run, name="keep-listening", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop restarting the receiver and stop the receiver itself."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(15)
            self._thread = None
        with self._lock:
            self.receiver.stop()

    def frames_now(self) -> int:
        with self._lock:
            return self.receiver.frame_count() if self.receiver.running else 0

    def wait_for_frames(self, count: int, timeout: float) -> float:
        """Seconds until the current session has `count` frames."""
        started = time.monotonic()
        wait_for(lambda: self.frames_now() >= count, timeout, f"{count} frames at the receiver")
        return time.monotonic() - started

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            with self._lock:
                if self.receiver.running:
                    continue
                if self.receiver.frame_count() > 0:
                    self.sessions += 1
                try:
                    self.receiver.start()
                except RuntimeError:
                    continue


class ResumingClient:
    """What the dashboard does: keep the last alert id, reconnect with backoff, resume."""

    def __init__(self, url: str, after_id: int = 0) -> None:
        self.url = url
        self.after_id = after_id
        self.received: list[int] = []
        self.connections = 0
        self.resumes_done = 0

    async def run(self) -> None:
        delay = 0.2
        while True:
            try:
                async with websockets.connect(self.url, open_timeout=3) as ws:
                    self.connections += 1
                    delay = 0.2
                    last = self.received[-1] if self.received else self.after_id
                    await ws.send(json.dumps({"type": "resume", "after_id": last}))
                    async for raw in ws:
                        for message in events_in(json.loads(raw)):
                            if message["type"] == "alert":
                                self.received.append(message["alert"]["id"])
                            elif message["type"] == "resume.done":
                                self.resumes_done += 1
            except (OSError, websockets.WebSocketException, TimeoutError):
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)


class Dashboards:
    """N ResumingClients run on an event loop in a background thread, so a test can go on
    driving processes synchronously while they listen."""

    def __init__(self, url: str, count: int, after_id: int = 0) -> None:
        self.clients = [ResumingClient(url, after_id) for _ in range(count)]
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._tasks: list[asyncio.Future] = []

    def start(self) -> "Dashboards":
        self._thread.start()
        self._tasks = [
            asyncio.run_coroutine_threadsafe(client.run(), self._loop) for client in self.clients
        ]
        return self

    def connected(self) -> bool:
        return all(client.resumes_done >= 1 for client in self.clients)

    def wait_until_all_have(self, expected: Callable[[], list[int]], timeout: float) -> list[int]:
        """Wait until every client has received exactly expected() (read anew each time, since
        the loop keeps raising alerts), in order and once each; fail otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            wanted = expected()
            if all(client.received == wanted for client in self.clients):
                return wanted
            if time.monotonic() > deadline:
                break
            time.sleep(0.1)
        for index, client in enumerate(self.clients):
            assert client.received == wanted, (
                f"client {index} got {client.received}, expected {wanted}"
            )
        return wanted

    def stop(self) -> None:
        async def cancel_all() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(cancel_all(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()


def start_workers(*workers: CeleryWorker, timeout: float = 60) -> None:
    """Start Celery workers side by side (each takes seconds to boot) and wait until all are ready."""
    for worker in workers:
        Process.start(worker)
    wait_ready(*workers, timeout=timeout)


def wait_ready(*workers: CeleryWorker, timeout: float = 60) -> None:
    """Wait until started workers say they are ready; fail if one exits."""
    for worker in workers:
        wait_for(
            lambda w=worker: "ready." in w.log() or w.proc.poll() is not None,
            timeout,
            f"{worker.name} ready",
            interval=0.2,
        )
        if worker.proc.poll() is not None:
            raise RuntimeError(f"{worker.name} exited:\n{worker.log()[-3000:]}")


def migrate(env: dict[str, str]) -> None:
    """Create Skylark's tables in the database env's DATABASE_URL names."""
    result = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise RuntimeError(f"migrate failed: {result.stderr[-3000:]}")
