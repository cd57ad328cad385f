"""Publisher against a real RTSP receiver: boxes arrive, a lost server never blocks push()."""

import fcntl
import os
import threading
import time
from collections.abc import Callable, Iterator

import cv2
import numpy as np
import pytest

from detection.annotate import BOX_COLOR
from detection.backoff import Backoff
from detection.publisher import MAX_BITS_PER_PIXEL, Publisher
from simulator.control import RtspReceiver as RecordingReceiver
from tests.faults.support import publisher_pids

from .conftest import RtspReceiver, free_port, is_green

SIZE = (640, 360)
BOX = (200, 100, 120, 120)  # x, y, w, h of the outline drawn on every pushed frame


def boxed_frame(grass: np.ndarray, size: tuple[int, int] = SIZE) -> np.ndarray:
    frame = cv2.resize(grass, size)
    x, y, w, h = BOX
    cv2.rectangle(frame, (x, y), (x + w - 1, y + h - 1), BOX_COLOR, 4)
    return frame


def push_for(publisher: Publisher, frame: np.ndarray, seconds: float, fps: int = 15) -> float:
    """Push copies of frame at fps for a while; the slowest push() call, in seconds."""
    slowest = 0.0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.monotonic()
        publisher.push(frame.copy())
        slowest = max(slowest, time.monotonic() - started)
        time.sleep(1 / fps)
    return slowest


def push_until(publisher: Publisher, frame: np.ndarray, done: Callable[[], bool], timeout: float):
    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline:
        push_for(publisher, frame, 0.2)
    assert done(), f"not done within {timeout} s; publisher state {publisher.state}"


@pytest.fixture
def publishers() -> Iterator[list[Publisher]]:
    made: list[Publisher] = []
    yield made
    for publisher in made:
        publisher.close()


def assert_box_visible(frame: np.ndarray) -> None:
    x, y, w, h = BOX
    assert is_green(frame[y : y + 3, x + 10 : x + w - 10]), "top edge"
    assert is_green(frame[y + 10 : y + h - 10, x : x + 3]), "left edge"
    assert not is_green(frame[y + 20 : y + h - 20, x + 20 : x + w - 20]), "inside"


def test_frames_arrive_with_the_box_drawn(publishers, rtsp_receiver, grass_frame):
    port = free_port()
    receiver: RtspReceiver = rtsp_receiver(port, SIZE)
    publisher = Publisher(receiver.url, *SIZE, fps=15)
    publishers.append(publisher)
    frame = boxed_frame(grass_frame)
    push_until(publisher, frame, lambda: len(receiver.frames) >= 15, timeout=10)
    assert publisher.state == "publishing"
    assert publisher.fps_out > 5
    assert_box_visible(receiver.frames[-1])
    # The colours survive the trip (BGR → I420 in the publisher → H.264 → BGR at the receiver).
    sent, got = frame.mean(axis=(0, 1)), receiver.frames[-1].mean(axis=(0, 1))
    assert np.abs(sent - got).max() < 6, f"mean BGR sent {sent}, received {got}"
    # ffmpeg's stdin holds a whole I420 frame, so one write is not a dozen wake-ups of ffmpeg.
    assert pipe_size(publisher_pids(receiver.url)[0]) >= SIZE[0] * SIZE[1] * 3 // 2


def pipe_size(pid: int) -> int:
    """The capacity of the pipe on a process's stdin (opened beside it, never read)."""
    fd = os.open(f"/proc/{pid}/fd/0", os.O_RDONLY | os.O_NONBLOCK)
    try:
        return fcntl.fcntl(fd, fcntl.F_GETPIPE_SZ)
    finally:
        os.close(fd)


def test_a_lost_server_means_restarting_without_blocking_then_resuming(
    publishers, rtsp_receiver, grass_frame
):
    port = free_port()
    url = f"rtsp://skylark:t0p-secret@127.0.0.1:{port}/live"
    first = rtsp_receiver(port, SIZE)
    publisher = Publisher(url, *SIZE, fps=15, backoff=Backoff(0.3, 0.6))
    publishers.append(publisher)
    frame = boxed_frame(grass_frame)
    push_until(publisher, frame, lambda: len(first.frames) >= 5, timeout=10)

    first.kill()
    slowest = push_for(publisher, frame, 1.0)
    assert publisher.state == "restarting"
    assert slowest < 0.05  # a blocked push would wait for ffmpeg: hundreds of ms or forever
    assert publisher.restarts >= 1
    assert publisher.last_error in (
        f"connection refused (rtsp://skylark:***@127.0.0.1:{port}/live)",
        f"connection lost (rtsp://skylark:***@127.0.0.1:{port}/live)",
    )
    assert "t0p-secret" not in publisher.last_error

    second = rtsp_receiver(port, SIZE)
    push_until(publisher, frame, lambda: len(second.frames) >= 10, timeout=10)
    assert publisher.state == "publishing"
    assert_box_visible(second.frames[-1])


def test_a_new_frame_size_restarts_ffmpeg_at_that_size(publishers, rtsp_receiver, grass_frame):
    port = free_port()
    first = rtsp_receiver(port, SIZE)
    publisher = Publisher(first.url, *SIZE, fps=15, backoff=Backoff(0.2, 0.4))
    publishers.append(publisher)
    push_until(publisher, boxed_frame(grass_frame), lambda: len(first.frames) >= 5, timeout=10)

    # The old ffmpeg ends its session, so the one-shot receiver ends too; a new one (listening
    # already: the first gave up the port when it took its client) takes the new size.
    small = (480, 270)
    second = rtsp_receiver(port, small)
    push_until(publisher, boxed_frame(grass_frame, small), lambda: len(second.frames) >= 5, 10)
    assert second.frames[-1].shape == (270, 480, 3)
    assert_box_visible(second.frames[-1])


def test_close_stops_ffmpeg_and_its_threads_even_with_nobody_listening(grass_frame):
    threads_before = threading.active_count()
    publisher = Publisher(f"rtsp://127.0.0.1:{free_port()}/live", *SIZE, fps=15)
    push_for(publisher, boxed_frame(grass_frame), 0.5)
    started = time.monotonic()
    publisher.close()
    assert time.monotonic() - started < 3
    assert publisher.state == "stopped"
    assert threading.active_count() == threads_before


def test_the_bitrate_is_capped_however_noisy_the_picture(publishers):
    """Pure noise (the worst a camera at night can send) is held to the cap, so a dashboard
    pulls a bounded stream from every camera; before the cap the encoder's quality setting let
    the bitrate follow the noise."""
    rng = np.random.default_rng(7)
    noise = [rng.integers(0, 256, (SIZE[1], SIZE[0], 3), dtype=np.uint8) for _ in range(15)]
    with RecordingReceiver("live/noisy") as receiver:
        publisher = Publisher(receiver.url, *SIZE, fps=15)
        publishers.append(publisher)
        deadline = time.monotonic() + 6.0
        index = 0
        while time.monotonic() < deadline:
            publisher.push(noise[index % len(noise)].copy())
            index += 1
            time.sleep(1 / 15)
        publisher.close()
        receiver.stop()
        frames = receiver.frame_count()
        recorded_bits = receiver.recording.stat().st_size * 8
    assert frames >= 45, f"only {frames} frames arrived"
    bitrate = recorded_bits / (frames / 15)
    cap = MAX_BITS_PER_PIXEL * SIZE[0] * SIZE[1] * 15
    assert bitrate <= 1.3 * cap, f"{bitrate / 1e6:.1f} Mbit/s against a cap of {cap / 1e6:.1f}"
