"""Fixtures of the fault tests: face videos for the simulated cameras, and a camera loop stack
(a real Celery worker and beat) that publishes to a receiver standing in for MediaMTX."""

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from simulator.control import free_port
from simulator.videos import FaceSpan, ensure_video
from tests.support.processes import CeleryBeat, CeleryWorker, child_env

# A face for 2 s of every 4 s: with cooldown_s=1 each appearance raises one alert, so a running
# loop makes an alert every 4 s. 640x360 keeps decoding cheap on a 2-core machine.
FACE_PERIOD_S = 4.0
FACE_SPANS = [FaceSpan(1 + 4 * i, 3 + 4 * i) for i in range(15)]
VIDEO_S = 60.0


@pytest.fixture(scope="session")
def face_video() -> Path:
    """60 s of 640x360 at 15 fps with a face for 2 s of every 4 s (the simulator loops it)."""
    return ensure_video("faults-360p", FACE_SPANS, VIDEO_S, width=640, height=360, face_size=90)


@pytest.fixture(scope="session")
def fast_video() -> Path:
    """10 s of 320x180 at 120 fps, no faces. FFmpeg reads about 20 frames to size up an RTSP
    stream when it opens it, so this camera opens in 0.25 s where a 15 fps one takes 1.9 s:
    what a test needs that reconnects a hundred times."""
    return ensure_video("faults-fast", [], 10.0, width=320, height=180, fps=120, face_size=40)


@pytest.fixture(scope="session")
def resolution_changing_video(tmp_path_factory) -> Path:
    """One H.264 stream that changes size mid-stream: 4 s at 1280x720, then 4 s at 640x360,
    each with a face from 1 s to 3 s. The simulator loops it, so the size flips every 4 s."""
    big = ensure_video("faults-switch-720p", [FaceSpan(1, 3)], 4.0)
    small = ensure_video(
        "faults-switch-360p", [FaceSpan(1, 3)], 4.0, width=640, height=360, face_size=90
    )
    directory = tmp_path_factory.mktemp("resolution")
    annex_b = directory / "both.h264"
    with annex_b.open("wb") as out:
        for part in (big, small):
            out.write(
                subprocess.run(
                    ["ffmpeg", "-v", "error", "-i", str(part), "-c", "copy",
                     "-bsf:v", "h264_mp4toannexb", "-f", "h264", "-"],
                    check=True, capture_output=True,
                ).stdout
            )  # fmt: skip
    video = directory / "720p-then-360p.mkv"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-fflags", "+genpts", "-r", "15", "-f", "h264",
         "-i", str(annex_b), "-c", "copy", "-f", "matroska", str(video)],
        check=True,
    )  # fmt: skip
    return video


@dataclass
class LoopStack:
    """A worker (with beat beside it) whose loops publish to rtsp://127.0.0.1:<publish_port>."""

    worker: CeleryWorker
    publish_port: int
    metrics_port: int  # the worker's Prometheus endpoint


@pytest.fixture(scope="module")
def loop_stack(django_db_setup, django_db_blocker, process_logs) -> Iterator[LoopStack]:
    """One worker and beat for the tests of a module. Each test makes its own camera; the
    database flush after the test deletes it and its loop ends.

    Module scope, not session: this beat reconciles every camera in the test database and this
    worker takes every loop task queued on the test Redis, so neither may outlive the module
    while other modules run stacks of their own.
    """
    publish_port, metrics_port = free_port(), free_port()
    with django_db_blocker.unblock():
        env = child_env(
            MEDIAMTX_RTSP_URL=f"rtsp://127.0.0.1:{publish_port}",
            WORKER_METRICS_PORT=str(metrics_port),
        )
    worker = CeleryWorker(env, process_logs, concurrency=4, name=f"faults-{metrics_port}")
    beat = CeleryBeat(env, process_logs)
    try:
        worker.start()
        beat.start()
        yield LoopStack(worker, publish_port, metrics_port)
    finally:
        beat.stop()
        worker.stop()
