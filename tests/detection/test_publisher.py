"""Publisher against a real RTSP receiver, fed the way the pipeline feeds it: the MPEG-TS a
CameraFeed encodes. A lost server never holds up the feed; a new stream restarts the relay."""

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from detection.backoff import Backoff
from detection.capture import MAX_BITS_PER_PIXEL, CameraFeed, VideoOutput
from detection.publisher import Publisher
from simulator.control import RtspReceiver as RecordingReceiver

from .conftest import RtspReceiver, VideoFactory, free_port

SIZE = (640, 360)


def wait_until(done: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.05)


@pytest.fixture
def relay() -> Iterator[Callable[[str, Publisher], CameraFeed]]:
    """relay(video, publisher) plays a file into the publisher through an annotated CameraFeed;
    feeds and publishers are stopped after the test."""
    made: list[tuple[CameraFeed, Publisher]] = []

    def start(video: str, publisher: Publisher) -> CameraFeed:
        feed = CameraFeed(video, video=VideoOutput("annotated", publisher, "test"))
        made.append((feed, publisher))
        feed.start()
        return feed

    yield start
    for feed, publisher in made:
        feed.stop()
        publisher.close()


@pytest.fixture(scope="module")
def grass_video(make_video: VideoFactory) -> Path:
    return make_video("grass-640", 4.0, size=SIZE)


def test_the_video_arrives_at_the_server(relay, rtsp_receiver, grass_video):
    receiver: RtspReceiver = rtsp_receiver(free_port(), SIZE)
    publisher = Publisher(receiver.url)
    relay(str(grass_video), publisher)
    wait_until(lambda: len(receiver.frames) >= 15, 15, "15 frames at the receiver")
    assert publisher.state == "publishing"
    assert publisher.fps_out > 5
    assert receiver.frames[-1].shape == (SIZE[1], SIZE[0], 3)
    # Grass stays grass: mostly green, not a grey or garbled picture.
    b, g, r = receiver.frames[-1].mean(axis=(0, 1))
    assert g > b and g > 40


def test_a_lost_server_means_restarting_without_holding_up_the_feed_then_resuming(
    relay, rtsp_receiver, grass_video
):
    port = free_port()
    url = f"rtsp://skylark:t0p-secret@127.0.0.1:{port}/live"
    first = rtsp_receiver(port, SIZE)
    publisher = Publisher(url, backoff=Backoff(0.3, 0.6))
    feed = relay(str(grass_video), publisher)
    wait_until(lambda: len(first.frames) >= 5, 15, "5 frames at the first receiver")

    first.kill()
    wait_until(lambda: publisher.state == "restarting", 5, "the publisher notices")
    read_before = feed.frames_read
    time.sleep(1.0)
    # Analysis goes on at its rate (5 a second) while nobody takes the video.
    assert feed.frames_read - read_before >= 3
    assert publisher.restarts >= 1
    assert publisher.last_error in (
        f"connection refused (rtsp://skylark:***@127.0.0.1:{port}/live)",
        f"connection lost (rtsp://skylark:***@127.0.0.1:{port}/live)",
    )
    assert "t0p-secret" not in publisher.last_error

    second = rtsp_receiver(port, SIZE)
    wait_until(lambda: len(second.frames) >= 10, 15, "10 frames at the second receiver")
    assert publisher.state == "publishing"


def test_a_new_stream_restarts_the_relay_at_its_size(
    relay, rtsp_receiver, grass_video, make_video: VideoFactory
):
    port = free_port()
    first = rtsp_receiver(port, SIZE)
    publisher = Publisher(first.url, backoff=Backoff(0.2, 0.4))
    feed = relay(str(grass_video), publisher)
    wait_until(lambda: len(first.frames) >= 5, 15, "5 frames at the first receiver")

    # A camera's ffmpeg restarting (here: another camera session at another size) starts a new
    # MPEG-TS stream; the relay starts again on it. The one-shot receiver ends with the old
    # session, and a new one (listening already) takes the new size.
    small = (480, 270)
    second = rtsp_receiver(port, small)
    feed.stop()
    relay(str(make_video("grass-480", 4.0, size=small)), publisher)
    wait_until(lambda: len(second.frames) >= 5, 15, "5 frames at the second receiver")
    assert second.frames[-1].shape == (270, 480, 3)


def test_close_stops_ffmpeg_and_its_threads_even_with_nobody_listening():
    threads_before = threading.active_count()
    publisher = Publisher(f"rtsp://127.0.0.1:{free_port()}/live")
    publisher.write(b"\x47" + bytes(187))
    time.sleep(0.5)
    started = time.monotonic()
    publisher.close()
    assert time.monotonic() - started < 3
    assert publisher.state == "stopped"
    wait_until(lambda: threading.active_count() == threads_before, 2, "threads gone")


def test_the_bitrate_is_capped_however_noisy_the_picture(relay, tmp_path):
    """Pure noise (the worst a camera at night can send) is held to the cap, so a dashboard
    pulls a bounded stream from every camera; before the cap the encoder's quality setting let
    the bitrate follow the noise."""
    rng = np.random.default_rng(7)
    noisy = tmp_path / "noise.avi"
    writer = cv2.VideoWriter(str(noisy), cv2.VideoWriter_fourcc(*"MJPG"), 15, SIZE)
    for _ in range(30):
        writer.write(rng.integers(0, 256, (SIZE[1], SIZE[0], 3), dtype=np.uint8))
    writer.release()
    with RecordingReceiver("live/noisy") as receiver:
        publisher = Publisher(receiver.url)
        feed = relay(str(noisy), publisher)
        time.sleep(6.0)
        feed.stop()
        publisher.close()
        receiver.stop()
        frames = receiver.frame_count()
        recorded_bits = receiver.recording.stat().st_size * 8
    assert frames >= 45, f"only {frames} frames arrived"
    bitrate = recorded_bits / (frames / 15)
    cap = MAX_BITS_PER_PIXEL * SIZE[0] * SIZE[1] * 15
    assert bitrate <= 1.3 * cap, f"{bitrate / 1e6:.1f} Mbit/s against a cap of {cap / 1e6:.1f}"
