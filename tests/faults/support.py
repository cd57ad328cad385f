"""Helpers of the fault tests: reading what the real processes report, keeping a receiver listening."""

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from simulator.control import RtspReceiver
from tests.support.processes import ROOT, CeleryWorker, Process
from tests.support.waiting import wait_for


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
