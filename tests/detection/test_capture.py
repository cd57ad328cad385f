"""CameraFeed against real sources: video files, a dead port, a silent server, an HTTP stream."""

import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from detection.backoff import Backoff
from detection.capture import CameraFeed
from simulator.control import CameraSimulator

from .conftest import VideoFactory, free_port, wait_listening


class StatusLog:
    """Collects on_status calls with the time they came, for a grabber under test."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.events: list[tuple[float, str, str]] = []
        self._cond = threading.Condition()

    def __call__(self, status: str, error: str) -> None:
        with self._cond:
            self.events.append((time.monotonic() - self.started, status, error))
            self._cond.notify_all()

    def wait_for(self, status: str, timeout: float, after: int = 0) -> tuple[float, str, str]:
        """The first event with this status (from index `after` on), waiting up to timeout."""
        with self._cond:
            found = self._cond.wait_for(
                lambda: any(s == status for _, s, _ in self.events[after:]), timeout
            )
            assert found, f"no {status!r} within {timeout} s: {self.events}"
            return next(e for e in self.events[after:] if e[1] == status)


@pytest.fixture
def grabbers() -> Iterator[list[CameraFeed]]:
    """Grabbers a test starts are stopped after it, even when it fails."""
    started: list[CameraFeed] = []
    yield started
    for grabber in started:
        grabber.stop()


def start(grabbers: list[CameraFeed], source: str, **kwargs) -> tuple[CameraFeed, StatusLog]:
    log = StatusLog()
    grabber = CameraFeed(source, on_status=log, **kwargs)
    grabbers.append(grabber)
    grabber.start()
    return grabber, log


@pytest.fixture(scope="module")
def video_30fps(make_video: VideoFactory) -> Path:
    return make_video("grass-2s-30fps", 2.0, fps=30, size=(640, 360))


def test_a_file_plays_at_its_frame_rate_and_reports_online(grabbers, video_30fps: Path):
    grabber, log = start(grabbers, str(video_30fps))
    log.wait_for("online", 5)
    assert log.events[0][1:] == ("connecting", "")
    first = grabber.get(timeout=2)
    assert first is not None and first.bgr().shape == (360, 640, 3)
    time.sleep(1.5)
    assert 20 <= grabber.fps_in <= 40
    assert grabber.source_fps == pytest.approx(30)


def test_only_the_newest_frame_is_kept_and_the_rest_counted_dropped(grabbers, video_30fps: Path):
    grabber, log = start(grabbers, str(video_30fps), analysis_fps=30)
    log.wait_for("online", 5)
    taken = []
    for _ in range(4):
        time.sleep(0.3)  # a slow consumer: about 9 frames arrive between takes
        frame = grabber.get(timeout=1)
        assert frame is not None
        # The frame handed over is the newest one read.
        assert frame.seq >= grabber.frames_read - 1
        taken.append(frame)
    assert [f.seq for f in taken] == sorted({f.seq for f in taken})
    assert grabber.frames_dropped >= 20
    # Every frame read was either taken or dropped (at most one waits in the slot).
    leftover = grabber.frames_read - grabber.frames_dropped - len(taken)
    assert leftover in (0, 1, 2)


def test_a_file_loops_by_default(grabbers, make_video: VideoFactory):
    short = make_video("grass-10-frames", 10 / 30, fps=30, size=(320, 180))
    grabber, log = start(grabbers, str(short), analysis_fps=30)
    time.sleep(1.2)
    assert grabber.frames_read > 25
    assert [s for _, s, _ in log.events] == ["connecting", "online"]


def test_a_file_played_once_ends(grabbers, make_video: VideoFactory):
    short = make_video("grass-10-frames", 10 / 30, fps=30, size=(320, 180))
    grabber, _ = start(grabbers, str(short), loop_file=False, analysis_fps=30)
    deadline = time.monotonic() + 5
    while not grabber.ended and time.monotonic() < deadline:
        grabber.get(timeout=0.5)
    assert grabber.ended
    assert grabber.frames_read == 10
    assert grabber.get(timeout=0.1) is None
    assert grabber.stop(timeout=2)


def test_a_missing_file_is_an_error(grabbers, tmp_path: Path):
    missing = tmp_path / "missing.mp4"
    _, log = start(grabbers, str(missing))
    at, _, error = log.wait_for("error", 2)
    assert error == f"file not found: {missing}"


def test_a_file_that_is_not_a_video_is_an_error(grabbers, tmp_path: Path):
    bogus = tmp_path / "notes.mp4"
    bogus.write_text("not a video")
    _, log = start(grabbers, str(bogus))
    _, _, error = log.wait_for("error", 2)
    assert error == f"could not open {bogus} (not a readable video file)"


def test_an_unsupported_scheme_is_an_error_without_the_password(grabbers):
    _, log = start(grabbers, "ftp://bob:hunter2@cam/video")
    _, _, error = log.wait_for("error", 2)
    assert "unsupported URL scheme 'ftp'" in error
    assert "hunter2" not in error


def test_a_dead_camera_is_offline_within_5_s_with_the_reason_and_no_password(grabbers):
    port = free_port()
    _, log = start(grabbers, f"rtsp://admin:s3cret@127.0.0.1:{port}/x")
    at, _, error = log.wait_for("offline", 5)
    assert at < 5
    assert error == f"connection refused (rtsp://admin:***@127.0.0.1:{port}/x)"


def test_a_camera_that_accepts_but_never_answers_is_offline_after_the_open_timeout(grabbers):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        _, log = start(grabbers, f"rtsp://127.0.0.1:{port}/x", open_timeout_ms=1500)
        at, _, error = log.wait_for("offline", 5)
    assert 1.4 <= at < 3
    assert error == f"no response within 1.5 s (rtsp://127.0.0.1:{port}/x)"


def test_reconnecting_many_times_leaks_no_threads_or_files(grabbers):
    def open_fds() -> int:
        return len(os.listdir("/proc/self/fd"))

    threads_before, fds_before = threading.active_count(), open_fds()
    port = free_port()
    grabber, log = start(grabbers, f"rtsp://127.0.0.1:{port}/x", backoff=Backoff(0.01, 0.02))
    deadline = time.monotonic() + 10
    while grabber.reconnects < 50 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert grabber.reconnects >= 50
    assert grabber.stop(timeout=2)
    assert threading.active_count() == threads_before
    assert open_fds() <= fds_before
    # The reason is reported once, not once per attempt.
    assert [s for _, s, _ in log.events] == ["connecting", "offline"]


def test_stop_is_prompt_and_releases_the_thread(grabbers, video_30fps: Path):
    grabber, log = start(grabbers, str(video_30fps))
    log.wait_for("online", 5)
    started = time.monotonic()
    assert grabber.stop()
    assert time.monotonic() - started < 1


class HttpCamera:
    """ffmpeg serving a looping file as MPEG-TS over HTTP: a network camera that can be frozen,
    killed and brought back."""

    def __init__(self, video: Path, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}/live.ts"
        self.proc = subprocess.Popen(
            [
                "ffmpeg",
                "-hide_banner",
                "-loglevel",
                "error",
                "-re",
                "-stream_loop",
                "-1",
                "-i",
                str(video),
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-tune",
                "zerolatency",
                "-g",
                "15",
                "-f",
                "mpegts",
                "-listen",
                "1",
                self.url,
            ],  # fmt: skip
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_listening(port)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGCONT)
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def http_cameras() -> Iterator[list[HttpCamera]]:
    cameras: list[HttpCamera] = []
    yield cameras
    for camera in cameras:
        camera.kill()


def test_a_stalled_stream_goes_offline_and_a_returning_one_online(
    grabbers, http_cameras, make_video: VideoFactory
):
    video = make_video("grass-3s-15fps-360p", 3.0, fps=15, size=(640, 360))
    port = free_port()
    http_cameras.append(HttpCamera(video, port))
    grabber, log = start(
        grabbers,
        http_cameras[0].url,
        read_timeout_ms=1500,
        open_timeout_ms=3000,
        backoff=Backoff(0.2, 0.4),
    )
    log.wait_for("online", 8)

    # Frozen camera: frames stop, the connection stays open.
    http_cameras[0].proc.send_signal(signal.SIGSTOP)
    frozen_at = time.monotonic() - log.started
    at, _, error = log.wait_for("offline", 10)
    # One read timeout, not one per frame still buffered in the decoder (docs/reliability.md, bug 1).
    assert at - frozen_at < 1.5 + 1.5
    assert error == f"no frames for 1.5 s ({http_cameras[0].url})"

    # Gone, then back on the same port: reconnects with backoff and reports online again.
    http_cameras[0].kill()
    seen = len(log.events)
    http_cameras.append(HttpCamera(video, port))
    log.wait_for("online", 10, after=seen)
    assert grabber.reconnects >= 1
    assert grabber.get(timeout=2) is not None


def clip(tmp_path: Path, name: str, source: str, size: str = "320x180") -> Path:
    """A 3 s H.264 clip in Matroska of an FFmpeg test source (lavfi filter and options)."""
    video = tmp_path / f"{name}.mkv"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"{source}:size={size}:rate=15",
         "-t", "3", "-c:v", "libx264", "-g", "15", "-pix_fmt", "yuv420p", str(video)],
        check=True,
    )  # fmt: skip
    return video


def test_a_picture_that_never_changes_is_reported_frozen_and_reconnected(grabbers, tmp_path: Path):
    """Frames that keep coming with not one pixel changed mean the camera's picture is stuck
    (a failing decoder conversion, a hung encoder): offline with the reason, then a reconnection.
    A moving picture beside it, watched as long, is never taken for frozen."""
    streams = {
        "still": clip(tmp_path, "still", "color=c=gray"),
        "moving": clip(tmp_path, "moving", "testsrc2=alpha=0"),
    }
    with CameraSimulator(streams) as simulator:
        grabber, log = start(
            grabbers, simulator.url("still"), frozen_after_s=3.0, backoff=Backoff(0.2, 0.4)
        )
        _, control = start(grabbers, simulator.url("moving"), frozen_after_s=3.0)
        online_at, _, _ = log.wait_for("online", 10)

        at, _, error = log.wait_for("offline", 10)
        assert 3.0 - 1.0 <= at - online_at < 3.0 + 2.5
        assert error == f"picture frozen for 3 s ({simulator.url('still')})"
        log.wait_for("online", 10, after=log.events.index((at, "offline", error)))
        assert grabber.reconnects >= 1
        assert [status for _, status, _ in control.events] == ["connecting", "online"]


def test_a_stream_of_implausible_size_is_refused_as_damaged(grabbers, tmp_path: Path):
    """OpenCV keeps the size a session opened with; a size no camera has (here 2048x32, as a
    damaged parameter set gives) is refused, and the grabber keeps reconnecting."""
    streams = {"strip": clip(tmp_path, "strip", "testsrc2=alpha=0", size="2048x32")}
    with CameraSimulator(streams) as simulator:
        grabber, log = start(grabbers, simulator.url("strip"), backoff=Backoff(0.2, 0.4))
        _, _, error = log.wait_for("offline", 10)
        assert error == (
            f"implausible frame size 2048x32, damaged stream? ({simulator.url('strip')})"
        )
        wait = time.monotonic() + 10
        while grabber.reconnects < 2 and time.monotonic() < wait:
            time.sleep(0.1)
        assert grabber.reconnects >= 2
        assert "online" not in [status for _, status, _ in log.events]


def test_a_new_frame_size_is_believed_once_a_second_session_confirms_it(grabbers, tmp_path: Path):
    """A camera that comes back with another resolution: the first session at the new size is
    refused (damaged packets can fake one), the next one at the same size is trusted."""
    small = clip(tmp_path, "small", "testsrc2=alpha=0")
    large = clip(tmp_path, "large", "testsrc2=alpha=0", size="480x270")
    with CameraSimulator({"cam": small}) as before:
        port, url = before.port, before.url("cam")
        grabber, log = start(grabbers, url, backoff=Backoff(0.2, 0.4))
        log.wait_for("online", 10)
        assert grabber.get(timeout=2).bgr().shape == (180, 320, 3)
    seen = len(log.events)
    log.wait_for("offline", 10, after=seen)
    grabber.get(timeout=0)  # the old session's last frame, if it was not taken
    with CameraSimulator({"cam": large}, port=port):
        log.wait_for("online", 15, after=seen)
        errors = [error for _, status, error in log.events[seen:] if status == "offline"]
        assert (
            f"frame size changed from 320x180 to 480x270; reconnecting to confirm it ({url})"
            in errors
        )
        assert grabber.get(timeout=2).bgr().shape == (270, 480, 3)


def test_a_camera_is_decoded_on_one_thread(grabbers, video_30fps: Path):
    """Cameras share the cores: the camera's ffmpeg decodes on one thread, not one per core,
    which would cost more CPU for the same frames (docs/benchmarks.md)."""
    grabber, log = start(grabbers, str(video_30fps))
    log.wait_for("online", 5)
    assert grabber.get(timeout=2) is not None
    time.sleep(0.3)  # decoding at full pace
    ffmpeg = [
        pid for pid in children() if str(video_30fps) in Path(f"/proc/{pid}/cmdline").read_text()
    ]
    assert len(ffmpeg) == 1, "one ffmpeg for the camera"
    argv = Path(f"/proc/{ffmpeg[0]}/cmdline").read_text().split("\0")
    assert argv[argv.index("-i") - 2 : argv.index("-i")] == ["-threads", "1"]
    threads = len(os.listdir(f"/proc/{ffmpeg[0]}/task"))
    assert threads <= 6, f"ffmpeg runs {threads} threads"


def children() -> list[int]:
    me = str(os.getpid())
    found = []
    for task in Path(f"/proc/{me}/task").iterdir():
        found += [int(pid) for pid in (task / "children").read_text().split()]
    return found
