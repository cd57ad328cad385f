"""A hundred outages in a row leak nothing: the capture side (CameraFeed against a camera that
drops off the network and comes back) and the publishing side (Publisher restarting ffmpeg while
the media server is away), run in this process so its threads, descriptors and memory can be
counted. Backoffs are shrunk so that a hundred cycles take seconds, not hours."""

import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

from detection.backoff import Backoff
from detection.capture import CameraFeed
from detection.publisher import Publisher
from simulator.control import CameraSimulator, RtspReceiver, free_port
from tests.support.waiting import wait_for

from .proxy import FaultProxy

pytestmark = pytest.mark.timeout(240)

CYCLES = 100
PUBLISHER_RESTARTS = 30


def native_threads() -> int:
    """Threads of this process, FFmpeg's own included (threading only knows Python's)."""
    return len(os.listdir("/proc/self/task"))


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def child_processes() -> list[int]:
    me = str(os.getpid())
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if stat[1] == me:  # ppid
                children.append(int(entry.name))
    return children


class Statuses:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []
        self._cond = threading.Condition()

    def __call__(self, status: str, error: str) -> None:
        with self._cond:
            self.events.append((status, error))
            self._cond.notify_all()

    def wait_for(self, status: str, count: int, timeout: float) -> None:
        """Until `status` has been reported `count` times in all."""
        with self._cond:
            ok = self._cond.wait_for(
                lambda: sum(s == status for s, _ in self.events) >= count, timeout
            )
        assert ok, f"{status!r} not reported {count} times in {timeout}s: {self.events[-6:]}"


def test_a_hundred_camera_outages_leak_no_threads_descriptors_or_memory(fast_video):
    # loop=False: sessions here last a fraction of a second, and the looping media of the
    # simulator aborts GStreamer's RTSP server (gst_rtsp_media_get_rates assertion) within
    # 10-100 reconnections this fast; plain playback survives hundreds.
    with (
        CameraSimulator({"door": fast_video}, loop=False) as simulator,
        FaultProxy(simulator.port) as proxy,
    ):
        statuses = Statuses()
        grabber = CameraFeed(
            proxy.url("door"),
            on_status=statuses,
            backoff=Backoff(0.02, 0.1),
            open_timeout_ms=3000,
            read_timeout_ms=3000,
        )
        try:
            grabber.start()
            cycles = 0

            def outage_and_return() -> None:
                nonlocal cycles
                cycles += 1
                statuses.wait_for("online", cycles, timeout=10)
                assert grabber.get(timeout=2) is not None
                proxy.down()  # connections reset, new ones refused
                statuses.wait_for("offline", cycles, timeout=10)
                proxy.up()

            for _ in range(3):  # warm-up: FFmpeg and OpenCV allocate their pools on first use
                outage_and_return()
            statuses.wait_for("online", cycles + 1, timeout=10)
            baseline = (threading.active_count(), native_threads(), open_fds(), rss_kb())

            started = time.monotonic()
            for _ in range(CYCLES):
                outage_and_return()
            statuses.wait_for("online", cycles + 1, timeout=10)
            elapsed = time.monotonic() - started
            assert grabber.get(timeout=2) is not None
            after = (threading.active_count(), native_threads(), open_fds(), rss_kb())

            assert grabber.reconnects >= CYCLES + 3
            assert after[0] == baseline[0], f"Python threads {baseline[0]} → {after[0]}"
            assert after[1] == baseline[1], f"native threads {baseline[1]} → {after[1]}"
            assert after[2] <= baseline[2], f"open descriptors {baseline[2]} → {after[2]}"
            assert after[3] < 1.10 * baseline[3], f"RSS {baseline[3]} kB → {after[3]} kB"
            assert grabber.stop(timeout=5), "the grabber did not stop"
            print(
                f"{CYCLES} outages in {elapsed:.0f}s; threads {baseline[1]} → {after[1]}, "
                f"fds {baseline[2]} → {after[2]}, RSS {baseline[3] // 1024} → "
                f"{after[3] // 1024} MB"
            )
        finally:
            grabber.stop(timeout=5)


def test_publisher_restarts_leak_no_threads_descriptors_or_processes(tmp_path):
    port = free_port()
    receiver = RtspReceiver("cam1", port=port, workdir=tmp_path)
    baseline = (threading.active_count(), native_threads(), open_fds(), child_processes())
    # What a camera's ffmpeg hands the publisher: H.264 in MPEG-TS, a keyframe a second.
    source = subprocess.Popen(
        ["ffmpeg", "-loglevel", "error", "-re", "-f", "lavfi", "-i", "testsrc=size=320x180:rate=15"]
        + ["-c:v", "libx264", "-preset", "ultrafast", "-g", "15", "-f", "mpegts", "pipe:1"],
        stdout=subprocess.PIPE,
    )
    publisher = Publisher(receiver.url, backoff=Backoff(0.02, 0.05))

    def push() -> None:
        assert source.stdout is not None
        while chunk := source.stdout.read1(16 * 188):
            publisher.write(chunk)

    pusher = threading.Thread(target=push, daemon=True)
    try:
        pusher.start()
        # The media server is away: every ffmpeg fails to connect and is restarted.
        started = time.monotonic()
        wait_for(
            lambda: publisher.restarts >= PUBLISHER_RESTARTS,
            60,
            f"{PUBLISHER_RESTARTS} publisher restarts",
        )
        elapsed = time.monotonic() - started
        assert publisher.state == "restarting"
        # The server comes back: the next restart publishes.
        receiver.start()
        receiver.wait_for_frames(15, timeout_s=10)
        assert publisher.state == "publishing"
    finally:
        source.kill()
        source.wait(5)
        pusher.join(5)
        assert source.stdout is not None
        source.stdout.close()
        publisher.close()
        receiver.close()
    # Threads of the closed publisher may take a moment to finish exiting.
    settle = time.monotonic() + 5
    while True:
        after = (threading.active_count(), native_threads(), open_fds(), child_processes())
        if after[:2] == baseline[:2] or time.monotonic() > settle:
            break
        time.sleep(0.1)
    assert after[0] == baseline[0], f"Python threads {baseline[0]} → {after[0]}"
    assert after[1] == baseline[1], f"native threads {baseline[1]} → {after[1]}"
    assert after[2] <= baseline[2], f"open descriptors {baseline[2]} → {after[2]}"
    assert after[3] == baseline[3], f"child processes left: {set(after[3]) - set(baseline[3])}"
    print(f"{publisher.restarts} publisher restarts in {elapsed:.0f}s; nothing left behind")
