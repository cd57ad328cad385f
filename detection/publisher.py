"""Pushes annotated frames to an RTSP server (MediaMTX) through an ffmpeg subprocess.

push() never blocks: a writer thread takes the newest frame from a one-slot mailbox and writes it
to ffmpeg's stdin. When ffmpeg exits (server down, connection lost) it is restarted with backoff,
while push() keeps returning at once and frames in between are simply not sent.
"""

import contextlib
import fcntl
import logging
import subprocess
import threading
import time
from collections import deque
from pathlib import Path
from typing import IO, Literal
from urllib.parse import unquote, urlsplit

import cv2
import ffmpeg
import numpy as np

from .backoff import Backoff
from .logfmt import kv
from .rates import RateMeter
from .urls import redact_url

log = logging.getLogger("skylark.detection")

PublisherState = Literal["starting", "publishing", "restarting", "stopped"]
_STDERR_LINES = 20
# ffmpeg connects to the server while encoding its first frame; once it has taken a few more, the
# connection is up. Until then a fresh process counts as still restarting.
_FRAMES_TO_CONFIRM = 3
# How long ffmpeg must keep taking frames before a later failure starts the backoff from scratch.
_HEALTHY_AFTER_S = 10.0
_WAIT_S = 0.5
_PIPE_MAX_SIZE = Path("/proc/sys/fs/pipe-max-size")
# The encoder's bitrate cap in bits per pixel of each frame: 6.9 Mbit/s for 720p at 15 fps. Its
# quality setting alone lets the bitrate follow the picture's noise (13.3 Mbit/s for a noisy 720p
# scene here; pure noise at 640x360 makes 20), so a dashboard of 8 such tiles would pull over
# 100 Mbit/s. Held to the cap, the noisy scene takes 7.2 Mbit/s and 10-12 % less CPU to encode; a
# clean picture stays below it and costs 2-4 % more (the rate control's bookkeeping), as
# bench/pipeline_breakdown.py measures.
MAX_BITS_PER_PIXEL = 0.5


def encoder_options(width: int, height: int, fps: int) -> dict[str, str | int]:
    """ffmpeg output options of the Publisher's H.264 (bench/ encodes with the same)."""
    max_rate = int(MAX_BITS_PER_PIXEL * width * height * fps)
    return {
        "vcodec": "libx264",
        "preset": "ultrafast",
        "tune": "zerolatency",
        "profile:v": "baseline",
        "pix_fmt": "yuv420p",
        "g": fps,  # a keyframe a second: a new WebRTC viewer starts within a second
        "bf": 0,
        "threads": 1,  # cameras share the cores: one encoding thread each
        "crf": 23,
        "maxrate": max_rate,
        "bufsize": max_rate,  # a second's worth: room for the keyframe that starts each second
    }


class Publisher:
    """One ffmpeg process encoding BGR frames (sent as I420) to H.264, published over RTSP/TCP.

    The command line (and so `ps`) shows the URL, credentials included; error messages and logs
    only ever show it redacted.
    """

    def __init__(
        self,
        url: str,
        width: int,
        height: int,
        fps: int,
        *,
        backoff: Backoff | None = None,
        camera_id: int | None = None,
    ) -> None:
        """camera_id only labels the log lines."""
        self._url = url
        self._camera_id = camera_id
        self._shown = redact_url(url)
        self._fps = max(1, int(fps))
        self._size = (width, height)
        self._backoff = backoff or Backoff(1.0, 30.0)
        self._meter = RateMeter()

        self._cond = threading.Condition()
        self._mailbox: np.ndarray | None = None
        self._closing = False
        self._state: PublisherState = "starting"
        self._last_error = ""
        self._frames_written = 0
        self._restarts = 0

        self._proc: subprocess.Popen[bytes] | None = None
        self._proc_size = self._size
        self._proc_started = 0.0
        self._proc_frames = 0
        self._stderr_lines: deque[str] = deque(maxlen=_STDERR_LINES)
        self._stderr_thread: threading.Thread | None = None
        self._retry_at = 0.0

        self._thread = threading.Thread(target=self._run, name="publisher", daemon=True)
        self._thread.start()

    # -- caller side -----------------------------------------------------------------------

    def push(self, frame: np.ndarray) -> None:
        """Offer a frame (BGR, C-contiguous); the caller must not modify it afterwards."""
        with self._cond:
            if self._closing:
                return
            self._mailbox = frame
            self._cond.notify()

    def close(self, timeout: float = 5.0) -> None:
        """Stop ffmpeg (letting it end the RTSP session) and join the writer thread."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join(timeout / 2)
        if self._thread.is_alive():
            # The writer is stuck in a write to an ffmpeg that stopped reading (stalled server):
            # only ending the process frees it. Signals only; its pipes belong to the writer.
            proc = self._proc
            if proc is not None:
                proc.kill()
            self._thread.join(timeout / 2)
        self._state = "stopped"

    @property
    def state(self) -> PublisherState:
        return self._state

    @property
    def last_error(self) -> str:
        return self._last_error

    @property
    def fps_out(self) -> float:
        """Frames actually written to ffmpeg per second."""
        return self._meter.rate()

    @property
    def frames_written(self) -> int:
        return self._frames_written

    @property
    def restarts(self) -> int:
        return self._restarts

    # -- writer thread ---------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while True:
                with self._cond:
                    self._cond.wait_for(lambda: self._mailbox is not None or self._closing, _WAIT_S)
                    if self._closing:
                        return
                    frame, self._mailbox = self._mailbox, None
                self._check_exited()
                if frame is not None:
                    self._write(frame)
        finally:
            self._terminate(grace=2.0)

    def _write(self, frame: np.ndarray) -> None:
        height, width = frame.shape[:2]
        # 4:2:0 video has even sizes: an odd last row or column is left out.
        height, width = height - height % 2, width - width % 2
        frame = frame[:height, :width]
        if self._proc is not None and (width, height) != self._proc_size:
            self._log(logging.INFO, "publisher_resize", size=f"{width}x{height}")
            self._terminate(grace=1.0)
            self._retry_at = 0.0  # a new size is not a failure: restart at once
        if self._proc is None:
            if time.monotonic() < self._retry_at:
                return
            self._start((width, height))
        proc = self._proc
        assert proc is not None and proc.stdin is not None
        try:
            # I420, as libx264 wants it: OpenCV's conversion (0.3 ms a 720p frame) replaces
            # ffmpeg's and halves the bytes through the pipe, 1.1 ms less CPU in all
            # (bench/pipeline_breakdown.py).
            proc.stdin.write(memoryview(cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420)))
            proc.stdin.flush()
        except (BrokenPipeError, ValueError, OSError):
            self._failed()
            return
        self._frames_written += 1
        self._proc_frames += 1
        self._meter.tick()
        if self._proc_frames >= _FRAMES_TO_CONFIRM and self._state != "publishing":
            self._state = "publishing"
            self._log(logging.INFO, "publisher_up", size=f"{width}x{height}")

    def _start(self, size: tuple[int, int]) -> None:
        width, height = size
        args = (
            ffmpeg.input(
                "pipe:",
                format="rawvideo",
                pix_fmt="yuv420p",
                s=f"{width}x{height}",
                framerate=self._fps,
                # Frames come when the pipeline has them, not at a fixed rate: stamp arrival time.
                use_wallclock_as_timestamps=1,
            )
            .output(
                self._url,
                format="rtsp",
                rtsp_transport="tcp",
                fps_mode="passthrough",
                **encoder_options(width, height, self._fps),
            )
            .global_args("-hide_banner", "-loglevel", "error", "-nostats")
            .compile()
        )
        self._stderr_lines = deque(maxlen=_STDERR_LINES)
        self._proc = subprocess.Popen(
            args, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        assert self._proc.stdin is not None
        widen_pipe(self._proc.stdin, width * height * 3 // 2)
        self._proc_size = size
        self._proc_started = time.monotonic()
        self._proc_frames = 0
        self._stderr_thread = threading.Thread(
            target=_drain, args=(self._proc.stderr, self._stderr_lines), daemon=True
        )
        self._stderr_thread.start()

    def _check_exited(self) -> None:
        if self._proc is not None and self._proc.poll() is not None:
            self._failed()

    def _failed(self) -> None:
        if self._closing:
            return  # close() ended ffmpeg on purpose
        healthy = time.monotonic() - self._proc_started >= _HEALTHY_AFTER_S
        code = self._terminate(grace=1.0)
        if healthy:
            self._backoff.reset()
        delay = self._backoff.next_delay()
        self._retry_at = time.monotonic() + delay
        self._restarts += 1
        lines = [self._scrub(line) for line in self._stderr_lines]
        self._last_error = f"{_reason(lines, code)} ({self._shown})"
        self._state = "restarting"
        self._log(
            logging.WARNING,
            "publisher_restart",
            retry_in=delay,
            error=self._last_error,
            ffmpeg=" / ".join(lines),
        )

    def _terminate(self, grace: float) -> int | None:
        """End the current ffmpeg, politely first; returns its exit code. Safe to call twice."""
        proc, self._proc = self._proc, None
        if proc is None:
            return None
        if proc.stdin is not None:
            # Closing a pipe ffmpeg already left raises; it is closed either way.
            with contextlib.suppress(OSError):
                proc.stdin.close()
        try:
            code = proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.terminate()
            try:
                code = proc.wait(grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                code = proc.wait()
        if self._stderr_thread is not None:
            self._stderr_thread.join(1.0)
        return code

    def _log(self, level: int, event: str, **fields: object) -> None:
        log.log(level, kv(event=event, camera=self._camera_id, url=self._shown, **fields))

    def _scrub(self, text: str) -> str:
        """ffmpeg may echo the URL; replace it, and its password anywhere, with the redacted form."""
        text = text.replace(self._url, self._shown)
        for secret in _passwords(self._url):
            text = text.replace(secret, "***")
        return text


def widen_pipe(pipe: IO[bytes], frame_bytes: int) -> int:
    """Make room in the pipe for a whole frame, as far as the system allows (1 MiB unless
    raised); returns the pipe's size. Through Linux's default 64 KiB pipe a 720p I420 frame
    (1.4 MB) is 21 rounds of filling, waking ffmpeg and waiting for it; 1 MiB makes it two: 0.1
    to 0.6 ms less CPU per frame, writer and ffmpeg together (bench/pipeline_breakdown.py), and
    a third of the context switches of a worker running 6 cameras."""
    fd = pipe.fileno()
    try:
        limit = int(_PIPE_MAX_SIZE.read_text())
    except (OSError, ValueError):
        limit = 1 << 20
    with contextlib.suppress(OSError):  # a smaller pipe is slower, not wrong
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, min(frame_bytes, limit))
    return fcntl.fcntl(fd, fcntl.F_GETPIPE_SZ)


def _drain(pipe: IO[bytes] | None, lines: deque[str]) -> None:
    """Read ffmpeg's stderr to the end so the pipe never fills; keep the last lines."""
    if pipe is None:
        return
    with pipe:
        for raw in pipe:
            line = raw.decode("utf-8", "replace").strip()
            if line:
                lines.append(line)


# ffmpeg's words for the usual failures, and how a status line says them.
_KNOWN_CAUSES = (
    ("Connection refused", "connection refused"),
    ("Connection timed out", "connection timed out"),
    ("Failed to resolve hostname", "host not found"),
    ("Name or service not known", "host not found"),
    ("401", "not authorized (check the publish credentials)"),
    ("Unauthorized", "not authorized (check the publish credentials)"),
    ("Connection reset", "connection lost"),
    ("Broken pipe", "connection lost"),
)


def _reason(stderr_lines: list[str], code: int | None) -> str:
    """A short cause for a status line, from ffmpeg's last stderr lines."""
    text = "\n".join(stderr_lines)
    for needle, reason in _KNOWN_CAUSES:
        if needle in text:
            return reason
    if stderr_lines:
        # Drop ffmpeg's "[rtsp @ 0x55d...] " prefix: an address is noise in a status line.
        return stderr_lines[-1].split("] ", 1)[-1]
    return f"ffmpeg exited with code {code}"


def _passwords(url: str) -> set[str]:
    """The URL's password as written and decoded (ffmpeg may print either)."""
    try:
        password = urlsplit(url).password
    except ValueError:
        return set()
    return {password, unquote(password)} if password else set()
