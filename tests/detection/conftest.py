"""Fixtures for the detection tests: composite face frames and videos, free ports, an RTSP receiver.

Frames are the public-domain astronaut portrait pasted onto a grass texture at a known place, so
the face's true box is known. The RTSP receiver is ffmpeg listening the way MediaMTX takes a push.
"""

import os
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np
import pytest

from simulator.control import is_listening

ASSETS = Path(__file__).resolve().parents[1] / "assets"
# The face in astronaut.jpg (512x512), found by Haar with the reference parameters.
FACE_IN_PORTRAIT = (177, 66, 95, 95)
# Where the portrait goes in the composites, and so where the face is.
PORTRAIT_AT = (400, 100)
FACE_BOX = (
    PORTRAIT_AT[0] + FACE_IN_PORTRAIT[0],
    PORTRAIT_AT[1] + FACE_IN_PORTRAIT[1],
    FACE_IN_PORTRAIT[2],
    FACE_IN_PORTRAIT[3],
)
DEFAULT_YUNET = Path(__file__).resolve().parents[3] / "shared" / "models" / "yunet.onnx"


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    ax, ay, aw, ah = a[:4]
    bx, by, bw, bh = b[:4]
    ix = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    iy = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = ix * iy
    return inter / (aw * ah + bw * bh - inter)


def is_green(pixels: np.ndarray) -> bool:
    """Mostly the annotation green (BGR 0,255,0) after lossy encoding."""
    b, g, r = (float(c) for c in pixels.reshape(-1, 3).mean(axis=0))
    return g > 150 and b < 110 and r < 110


@pytest.fixture(scope="session")
def portrait() -> np.ndarray:
    return cv2.imread(str(ASSETS / "astronaut.jpg"))


@pytest.fixture(scope="session")
def grass_frame() -> np.ndarray:
    """A 1280x720 face-free frame."""
    return cv2.resize(cv2.imread(str(ASSETS / "grass.jpg")), (1280, 720))


@pytest.fixture(scope="session")
def face_frame(grass_frame: np.ndarray, portrait: np.ndarray) -> np.ndarray:
    """The 1280x720 grass frame with the portrait pasted at PORTRAIT_AT; the face is FACE_BOX."""
    frame = grass_frame.copy()
    x, y = PORTRAIT_AT
    frame[y : y + portrait.shape[0], x : x + portrait.shape[1]] = portrait
    return frame


VideoFactory = Callable[..., Path]
# Where make_video(resident=True) pastes the portrait's head (275x275 around the face),
# right of the whole portrait at PORTRAIT_AT.
RESIDENT_AT = (980, 380)


def with_resident(frame: np.ndarray, portrait: np.ndarray) -> np.ndarray:
    fx, fy, fw, fh = FACE_IN_PORTRAIT
    head = portrait[fy - 60 : fy + fh + 120, fx - 60 : fx + fw + 120]
    out = frame.copy()
    x, y = RESIDENT_AT
    out[y : y + head.shape[0], x : x + head.shape[1]] = head
    return out


@pytest.fixture(scope="session")
def make_video(
    tmp_path_factory: pytest.TempPathFactory, grass_frame, face_frame, portrait
) -> VideoFactory:
    """make_video(name, duration_s, face_windows=[(start, end), ...], fps=15, size=(1280, 720),
    resident=False).

    An mp4 (MPEG-4 part 2, written by OpenCV) of grass with the face pasted during each window;
    resident: a second face, at RESIDENT_AT, in view the whole time (someone who stays).
    Videos are made once per session and name.
    """
    directory = tmp_path_factory.mktemp("videos")
    made: dict[str, Path] = {}

    def factory(
        name: str,
        duration_s: float,
        face_windows: Sequence[tuple[float, float]] = (),
        fps: int = 15,
        size: tuple[int, int] = (1280, 720),
        resident: bool = False,
    ) -> Path:
        if name in made:
            return made[name]
        path = directory / f"{name}.mp4"
        empty, with_face = grass_frame, face_frame
        if resident:
            empty, with_face = with_resident(empty, portrait), with_resident(with_face, portrait)
        if size != (1280, 720):
            empty, with_face = cv2.resize(empty, size), cv2.resize(with_face, size)
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
        for index in range(round(duration_s * fps)):
            at = index / fps
            shown = any(start <= at < end for start, end in face_windows)
            writer.write(with_face if shown else empty)
        writer.release()
        made[name] = path
        return path

    return factory


def free_port() -> int:
    """A TCP port nothing listens on (at the time of asking)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_listening(port: int, timeout: float = 15.0) -> None:
    """Wait until a server is up on the port, without connecting to it (is_listening)."""
    deadline = time.monotonic() + timeout
    while not is_listening(port):
        if time.monotonic() > deadline:
            raise TimeoutError(f"nothing listens on port {port} after {timeout} s")
        time.sleep(0.05)


class RtspReceiver:
    """`ffmpeg -rtsp_flags listen` taking one RTSP push and decoding it to BGR frames in memory."""

    def __init__(self, port: int, size: tuple[int, int]) -> None:
        self.url = f"rtsp://127.0.0.1:{port}/live"
        self.size = size
        self.frames: list[np.ndarray] = []
        self.proc = subprocess.Popen(
            [
                "ffmpeg",
                "-hide_banner",
                "-loglevel",
                "error",
                "-rtsp_flags",
                "listen",
                "-i",
                self.url,
                "-f",
                "rawvideo",
                "-pix_fmt",
                "bgr24",
                "pipe:1",
            ],  # fmt: skip
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        wait_listening(port)

    def _read(self) -> None:
        width, height = self.size
        frame_bytes = width * height * 3
        assert self.proc.stdout is not None
        while True:
            data = self.proc.stdout.read(frame_bytes)
            if len(data) < frame_bytes:
                return
            self.frames.append(np.frombuffer(data, np.uint8).reshape(height, width, 3))

    def wait_frames(self, count: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while len(self.frames) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return len(self.frames) >= count

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()
        self._reader.join(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@pytest.fixture
def rtsp_receiver() -> Iterator[Callable[[int, tuple[int, int]], RtspReceiver]]:
    """rtsp_receiver(port, (width, height)) starts a receiver; all are killed after the test."""
    started: list[RtspReceiver] = []

    def start(port: int, size: tuple[int, int]) -> RtspReceiver:
        receiver = RtspReceiver(port, size)
        started.append(receiver)
        return receiver

    yield start
    for receiver in started:
        receiver.kill()


@pytest.fixture(scope="session")
def yunet_model() -> str:
    """Path of the YuNet ONNX model: FACE_DETECTOR_MODEL, else the shared test asset.

    A FACE_DETECTOR_MODEL naming a missing file is not skipped: the detector's error shows it.
    """
    path = os.environ.get("FACE_DETECTOR_MODEL")
    if path:
        return path
    if not DEFAULT_YUNET.is_file():
        pytest.skip(
            f"YuNet model not available: FACE_DETECTOR_MODEL is unset and {DEFAULT_YUNET} is absent"
        )
    return str(DEFAULT_YUNET)
