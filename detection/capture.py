"""Reads a camera (or a looping video file) on its own thread and keeps only the newest frame.

The processor takes frames with get(); a frame it did not take before the next one arrived is
dropped and counted. Failures are reported as a status plus a readable, password-free reason, and
the grabber reconnects with backoff until stop() is called.
"""

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

import cv2
import numpy as np

from .backoff import Backoff
from .rates import RateMeter
from .urls import redact_url

log = logging.getLogger("skylark.detection")

SourceStatus = Literal["connecting", "online", "offline", "error"]
StatusCallback = Callable[[SourceStatus, str], None]

NETWORK_SCHEMES = ("rtsp", "rtsps", "http", "https")
_DEFAULT_PORTS = {"rtsp": 554, "rtsps": 322, "http": 80, "https": 443}
_OPTIONS_VAR = "OPENCV_FFMPEG_CAPTURE_OPTIONS"
# Files whose container reports no usable frame rate are paced at this rate.
_FALLBACK_FILE_FPS = 25.0
# The smallest side (QCIF is 176x144) and the widest aspect ratio of a real camera's picture.
MIN_FRAME_SIDE = 96
MAX_ASPECT = 4.0
# A network camera whose picture has not changed by a single pixel for this long is treated as
# down and reconnected (see _FreezeWatch).
FROZEN_AFTER_S = 10.0
# One decoding thread per camera: cameras share the cores, and FFmpeg's default of a thread per
# core costs more CPU for no more frames (a 720p frame: 2.4-2.9 against 3.4-4.0 ms decoded as
# fast as it goes, 3.2 against 3.6 ms at 15 fps; bench/pipeline_breakdown.py).
DECODER_THREADS = 1


@dataclass(frozen=True, slots=True)
class Frame:
    image: np.ndarray  # BGR; a fresh array per frame, owned by whoever took it from get()
    at: float  # unix time it was read
    t: float  # monotonic time it was read: use this for intervals
    seq: int  # 1-based number of frames read since start


class _CaptureOptionsEnv:
    """Hands OPENCV_FFMPEG_CAPTURE_OPTIONS to one open at a time per value.

    OpenCV reads this process-global variable inside VideoCapture's open and has no per-capture
    equivalent. Opens wanting the same value (the common case: every camera on TCP) run together;
    an open wanting another value waits until they finish, so no open sees a value meant for
    another. The variable is only written while no open is in progress.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._value: str | None = None
        self._users = 0

    @contextlib.contextmanager
    def holding(self, value: str) -> Iterator[None]:
        with self._cond:
            self._cond.wait_for(lambda: self._users == 0 or self._value == value)
            if self._value != value:
                os.environ[_OPTIONS_VAR] = value
                self._value = value
            self._users += 1
        try:
            yield
        finally:
            with self._cond:
                self._users -= 1
                self._cond.notify_all()


_capture_options = _CaptureOptionsEnv()


class _FreezeWatch:
    """Notices a stream whose frames keep coming but whose picture never changes.

    A real camera's picture always changes a little (sensor noise, the clock overlay), so frames
    identical to the last pixel for FROZEN_AFTER_S mean the picture is stuck: a camera whose
    encoder hangs repeats its last frame, and OpenCV hands out its previous picture again when
    FFmpeg 8's scaler refuses a frame ("Cannot convert interlaced to progressive frames", seen
    with damaged packets). A new session is the cure.

    One frame a second is compared, against a copy of the one compared before: ~1 ms a second.
    """

    def __init__(self, after_s: float) -> None:
        self._after_s = after_s
        self._reference: np.ndarray | None = None
        self._checked_at = 0.0
        self._same_since: float | None = None

    def frozen(self, image: np.ndarray, now: float) -> bool:
        if now - self._checked_at < 1.0:
            return False
        self._checked_at = now
        if self._reference is not None and np.array_equal(image, self._reference):
            if self._same_since is None:
                self._same_since = now
            return now - self._same_since >= self._after_s - 1.0
        self._same_since = None
        self._reference = image.copy()
        return False


class FrameGrabber:
    """Reader thread around cv2.VideoCapture(source, cv2.CAP_FFMPEG).

    `source` is an rtsp/rtsps/http(s) URL, a file path or a file:// URL. A dead camera is noticed
    within the open/read timeouts; stop() returns within about one read timeout at worst (a read
    blocked inside FFmpeg cannot be interrupted, only waited for).
    """

    def __init__(
        self,
        source: str,
        *,
        transport: Literal["tcp", "udp"] = "tcp",
        on_status: StatusCallback | None = None,
        open_timeout_ms: int = 5000,
        read_timeout_ms: int = 4000,
        loop_file: bool = True,
        backoff: Backoff | None = None,
        error_backoff: Backoff | None = None,
        frozen_after_s: float = FROZEN_AFTER_S,
    ) -> None:
        self._source = source
        self._shown = redact_url(source)
        self._transport = transport
        self._on_status = on_status
        self._open_timeout_ms = open_timeout_ms
        self._read_timeout_ms = read_timeout_ms
        self._loop_file = loop_file
        self._frozen_after_s = frozen_after_s
        self._backoff = backoff or Backoff(1.0, 30.0)
        # A source that cannot work as configured is retried too (a file may appear later), slowly.
        self._error_backoff = error_backoff or Backoff(10.0, 60.0)

        self._cond = threading.Condition()
        self._slot: Frame | None = None
        self._stop = threading.Event()
        self._ended = threading.Event()
        self._thread: threading.Thread | None = None
        self._meter = RateMeter()

        self._state: tuple[SourceStatus, str] = ("connecting", "")
        self._frames_read = 0
        self._frames_dropped = 0
        self._reconnects = 0
        self._last_frame_at: float | None = None
        self._source_fps: float | None = None
        self._size: tuple[int, int] | None = None  # (width, height) of the trusted sessions
        self._new_size: tuple[int, int] | None = None  # a different one, awaiting confirmation

    # -- consumer side ---------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("FrameGrabber already started")
        self._thread = threading.Thread(target=self._run, name="frame-grabber", daemon=True)
        self._thread.start()

    def get(self, timeout: float) -> Frame | None:
        """The newest frame not yet taken, waiting up to `timeout` s; None if none came."""
        with self._cond:
            self._cond.wait_for(
                lambda: self._slot is not None or self._ended.is_set() or self._stop.is_set(),
                timeout,
            )
            frame, self._slot = self._slot, None
            return frame

    def stop(self, timeout: float | None = None) -> bool:
        """Ask the thread to stop, release the capture and wait; False if it is still stuck."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is None:
            return True
        if timeout is None:
            timeout = (max(self._open_timeout_ms, self._read_timeout_ms) + 2000) / 1000
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def state(self) -> tuple[SourceStatus, str]:
        """(status, error) as last reported."""
        return self._state

    @property
    def ended(self) -> bool:
        """True once a file source reached its end with loop_file=False."""
        return self._ended.is_set()

    @property
    def fps_in(self) -> float:
        return self._meter.rate()

    @property
    def frames_read(self) -> int:
        return self._frames_read

    @property
    def frames_dropped(self) -> int:
        return self._frames_dropped

    @property
    def reconnects(self) -> int:
        """Connection attempts after the first one, failed or not."""
        return self._reconnects

    @property
    def last_frame_at(self) -> float | None:
        return self._last_frame_at

    @property
    def source_fps(self) -> float | None:
        """The frame rate the source declares, if plausible."""
        return self._source_fps

    # -- reader thread ---------------------------------------------------------------------

    def _run(self) -> None:
        self._notify("connecting", "")
        first = True
        while not self._stop.is_set():
            if not first:
                self._reconnects += 1
            first = False
            failure = self._session()
            if failure is None:
                return
            status, reason = failure
            self._set_state(status, reason)
            backoff = self._error_backoff if status == "error" else self._backoff
            self._stop.wait(backoff.next_delay())

    def _session(self) -> tuple[SourceStatus, str] | None:
        """Open, read until failure, release. None when stopped or a non-looping file ended."""
        path, problem = self._check_source()
        if problem:
            return "error", problem
        params = [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
            self._open_timeout_ms,
            cv2.CAP_PROP_READ_TIMEOUT_MSEC,
            self._read_timeout_ms,
            cv2.CAP_PROP_N_THREADS,
            DECODER_THREADS,
        ]
        started = time.monotonic()
        # rtsp_transport applies to RTSP only and FFmpeg ignores it elsewhere, so every open shares
        # one value and never waits for another. FFmpeg sizes a stream up from about 20 frames
        # before the first one is returned (1.3 s at 15 fps); a 1 s cap on that probe brings every
        # (re)connection back sooner and still reads the frame rate right.
        options = f"rtsp_transport;{self._transport}|analyzeduration;1000000"
        with _capture_options.holding(options):
            capture = cv2.VideoCapture(path or self._source, cv2.CAP_FFMPEG, params)
        try:
            if not capture.isOpened():
                if path:
                    return "error", f"could not open {path} (not a readable video file)"
                return "offline", self._open_failure(time.monotonic() - started)
            return self._read_frames(capture, is_file=bool(path))
        finally:
            capture.release()

    def _check_source(self) -> tuple[str | None, str]:
        """(file path or None for a URL, reason it can never work or '')."""
        source = self._source
        if source.startswith("file://"):
            source = source[len("file://") :]
        elif "://" in source:
            scheme = source.split("://", 1)[0].lower()
            if scheme not in NETWORK_SCHEMES:
                return None, (
                    f"unsupported URL scheme '{scheme}' in {self._shown} "
                    "(use rtsp, rtsps, http, https or a file path)"
                )
            return None, ""
        if not os.path.isfile(source):
            return source, f"file not found: {source}"
        return source, ""

    def _read_frames(
        self, capture: cv2.VideoCapture, is_file: bool
    ) -> tuple[SourceStatus, str] | None:
        fps = capture.get(cv2.CAP_PROP_FPS)
        self._source_fps = fps if 1.0 <= fps <= 240.0 else None
        period = 1.0 / (self._source_fps or _FALLBACK_FILE_FPS) if is_file else 0.0
        got_frame = False
        rewound = False
        next_due = time.monotonic()
        freeze = None if is_file else _FreezeWatch(self._frozen_after_s)
        while not self._stop.is_set():
            started = time.monotonic()
            ok, image = capture.read()
            if not is_file and time.monotonic() - started >= 0.9 * self._read_timeout_ms / 1000:
                # FFmpeg's read timeout fired. OpenCV may still hand out frames the decoder had
                # buffered, but each of those reads waits a full timeout again: give up now.
                return self._read_failure(is_file, got_frame, stalled=True)
            if not ok:
                if is_file and got_frame and not rewound:
                    if not self._loop_file:
                        self._ended.set()
                        with self._cond:
                            self._cond.notify_all()
                        return None
                    # A failed seek, or a read failing right after one, means reopening.
                    rewound = capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
                    if rewound:
                        continue
                return self._read_failure(is_file, got_frame, stalled=False)
            rewound = False
            if not got_frame:
                if problem := self._untrusted_size(image):
                    return "offline", f"{problem} ({self._shown})"
                got_frame = True
                self._backoff.reset()
                self._error_backoff.reset()
                self._set_state("online", "")
            if freeze and freeze.frozen(image, started):
                return "offline", f"picture frozen for {self._frozen_after_s:g} s ({self._shown})"
            self._offer(image)
            if period:
                next_due = self._pace(next_due, period)
        return None

    def _untrusted_size(self, image: np.ndarray) -> str:
        """Why a session's frames cannot be trusted to show the camera's picture, or ''.

        OpenCV fixes a session's frame size when it opens the stream and crops or scales every
        later frame to it. A session opened on damaged packets can take its size from a damaged
        parameter set (64x32, 2048x32 and 640x160 for a 640x360 camera seen): left alone, it would
        show a crop of the clean picture for as long as it lasts. So a size no camera has is
        refused, and a size other than the one seen before is believed only once a second
        session opens with it too (a camera that really changed resolution costs one reconnect).
        """
        height, width = image.shape[:2]
        if min(width, height) < MIN_FRAME_SIDE or max(width, height) > MAX_ASPECT * min(
            width, height
        ):
            return f"implausible frame size {width}x{height}, damaged stream?"
        size = (width, height)
        if self._size is None or size in (self._size, self._new_size):
            self._size, self._new_size = size, None
            return ""
        self._new_size = size
        old_width, old_height = self._size
        return (
            f"frame size changed from {old_width}x{old_height} to {width}x{height}; "
            "reconnecting to confirm it"
        )

    def _pace(self, next_due: float, period: float) -> float:
        """Sleep so a file plays at its own frame rate; never try to catch up more than a frame."""
        next_due += period
        delay = next_due - time.monotonic()
        if delay > 0:
            self._stop.wait(delay)
            return next_due
        return max(next_due, time.monotonic() - period)

    def _offer(self, image: np.ndarray) -> None:
        now = time.time()
        with self._cond:
            self._frames_read += 1
            if self._slot is not None:
                self._frames_dropped += 1
            self._slot = Frame(image, now, time.monotonic(), self._frames_read)
            self._last_frame_at = now
            self._cond.notify_all()
        self._meter.tick()

    def _read_failure(
        self, is_file: bool, got_frame: bool, stalled: bool
    ) -> tuple[SourceStatus, str]:
        if is_file:
            status: SourceStatus = "offline" if got_frame else "error"
            return status, f"could not decode frames from {self._shown}"
        if stalled:
            return "offline", f"no frames for {self._read_timeout_ms / 1000:g} s ({self._shown})"
        if not got_frame:
            return "offline", f"opened but no frames from {self._shown}"
        return "offline", f"stream ended ({self._shown})"

    def _open_failure(self, waited: float) -> str:
        """Name the cause of a failed network open; OpenCV only says it failed."""
        if waited >= 0.9 * self._open_timeout_ms / 1000:
            return f"no response within {self._open_timeout_ms / 1000:g} s ({self._shown})"
        try:
            parts = urlsplit(self._source)
            host = parts.hostname or ""
            port = parts.port or _DEFAULT_PORTS.get(parts.scheme.lower(), 554)
        except ValueError:
            return f"malformed URL {self._shown}"
        # A bare TCP connect tells refused / unknown host / unreachable apart, which the open hides.
        try:
            with socket.create_connection((host, port), timeout=2.0):
                pass
        except ConnectionRefusedError:
            return f"connection refused ({self._shown})"
        except socket.gaierror:
            return f"host not found: {host} ({self._shown})"
        except TimeoutError:
            return f"connection timed out ({self._shown})"
        except OSError as exc:
            return f"{(exc.strerror or str(exc)).lower()} ({self._shown})"
        return f"could not open {self._shown} (wrong path or credentials, or not a video stream)"

    def _set_state(self, status: SourceStatus, error: str) -> None:
        if (status, error) != self._state:
            self._state = (status, error)
            self._notify(status, error)

    def _notify(self, status: SourceStatus, error: str) -> None:
        if self._on_status is None:
            return
        try:
            self._on_status(status, error)
        except Exception:
            # The callback belongs to the caller; its bug must not stop the camera.
            log.exception("event=status_callback_failed status=%s", status)
