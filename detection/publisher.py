"""Relays a camera's published video (MPEG-TS from its ffmpeg) to MediaMTX over RTSP.

A second, small ffmpeg (`-c copy`, no decoding) does the RTSP: when MediaMTX is down or the
connection drops, only this relay dies and is restarted with backoff, while the camera's ffmpeg,
and so detection and alerts, go on. write() never blocks: bytes wait in a bounded queue for the
writer thread, and what comes while the relay is down is dropped.
"""

import contextlib
import logging
import subprocess
import threading
import time
from collections import deque
from typing import IO, Literal

from .backoff import Backoff
from .logfmt import kv
from .rates import ProgressRate
from .redaction import redact_url, scrub

log = logging.getLogger("skylark.detection")

PublisherState = Literal["starting", "publishing", "restarting", "stopped"]
_STDERR_LINES = 20
# How long the relay must keep publishing before a later failure starts the backoff from scratch.
_HEALTHY_AFTER_S = 10.0
_WAIT_S = 0.5
# Bytes waiting for the relay: 4 s of 720p at the bitrate cap. More means the relay is stuck.
_QUEUE_MAX_BYTES = 4 << 20
_TS_PACKET = 188
# Held back while a relay waits for a keyframe to start on: 2 s of 720p at the bitrate cap.
_GATE_MAX_BYTES = 2 << 20


class Publisher:
    """The relay to one RTSP URL. The command line (and so `ps`) shows the URL, credentials
    included; error messages and logs only ever show it redacted."""

    def __init__(
        self, url: str, *, backoff: Backoff | None = None, camera_id: int | None = None
    ) -> None:
        """camera_id only labels the log lines."""
        self._url = url
        self._camera_id = camera_id
        self._shown = redact_url(url)
        self._backoff = backoff or Backoff(1.0, 30.0)

        self._cond = threading.Condition()
        self._queue: deque[bytes] = deque()
        self._queued = 0
        self._fresh = True  # the next bytes start a stream: the relay must (re)start on them
        self._gate = bytearray()  # mid-stream, a new relay starts at a keyframe: bytes until then
        self._needs_keyframe = False
        self._closing = False
        self._state: PublisherState = "starting"
        self._last_error = ""
        self._restarts = 0
        self._frames = ProgressRate(skip_first=True)

        self._proc: subprocess.Popen[bytes] | None = None
        self._proc_started = 0.0
        self._stderr_lines: deque[str] = deque(maxlen=_STDERR_LINES)
        self._stderr_thread: threading.Thread | None = None
        self._retry_at = 0.0

        self._thread = threading.Thread(target=self._run, name="publisher", daemon=True)
        self._thread.start()

    # -- caller side -----------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        """Queue MPEG-TS bytes for the relay; dropped when it is down or too far behind."""
        with self._cond:
            if self._closing:
                return
            if self._queued + len(data) > _QUEUE_MAX_BYTES:
                self._queue.clear()
                self._queued = 0
            self._queue.append(data)
            self._queued += len(data)
            self._cond.notify()

    def new_stream(self) -> None:
        """The camera's ffmpeg restarted: a new MPEG-TS stream follows, with new timestamps."""
        with self._cond:
            self._queue.clear()
            self._queued = 0
            self._fresh = True
            self._cond.notify()

    def close(self, timeout: float = 5.0) -> None:
        """Stop the relay (letting it end the RTSP session) and join the writer thread."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join(timeout / 2)
        if self._thread.is_alive():
            # The writer is stuck in a write to a relay that stopped reading (stalled server):
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
        """Frames a second the relay sends to the server."""
        return self._frames.rate() if self._state == "publishing" else 0.0

    @property
    def restarts(self) -> int:
        return self._restarts

    # -- writer thread ---------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while True:
                with self._cond:
                    self._cond.wait_for(lambda: self._queue or self._closing, _WAIT_S)
                    if self._closing:
                        return
                    fresh, self._fresh = self._fresh, False
                    chunks = list(self._queue)
                    self._queue.clear()
                    self._queued = 0
                if fresh:
                    self._needs_keyframe = False
                    self._gate.clear()
                    if self._proc is not None:
                        self._terminate(grace=1.0)
                        self._retry_at = 0.0  # a new stream is not a failure: restart at once
                self._check_exited()
                if self._frames.frames and self._state != "publishing":
                    self._state = "publishing"
                    self._log(logging.INFO, "publisher_up")
                if chunks:
                    self._write(b"".join(chunks))
        finally:
            self._terminate(grace=2.0)

    def _write(self, data: bytes) -> None:
        if self._proc is None:
            if time.monotonic() < self._retry_at:
                self._needs_keyframe = True
                return
            if self._needs_keyframe:
                data = self._from_keyframe(data)
                if not data:
                    return
            self._start()
        proc = self._proc
        assert proc is not None and proc.stdin is not None
        try:
            proc.stdin.write(data)
            proc.stdin.flush()
        except (BrokenPipeError, ValueError, OSError):
            self._failed()

    def _from_keyframe(self, data: bytes) -> bytes:
        """The stream from its next keyframe on (its program tables first), or b"" while none
        has come yet: a relay started mid-frame could not tell the picture's size."""
        self._gate += data
        start = keyframe_offset(self._gate)
        if start is None:
            if len(self._gate) > _GATE_MAX_BYTES:
                del self._gate[: len(self._gate) - _TS_PACKET]
            return b""
        found = bytes(self._gate[start:])
        self._gate.clear()
        self._needs_keyframe = False
        return found

    def _start(self) -> None:
        args = [
            "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-nostats",
            "-progress", "pipe:2", "-stats_period", "0.5",
            # The stream starts with its tables and a keyframe with its parameter sets: half a
            # second of probing is plenty (the default 5 s would delay the picture as long).
            "-f", "mpegts", "-analyzeduration", "500000", "-i", "pipe:0",
            "-map", "0:v:0", "-c", "copy",
            "-f", "rtsp", "-rtsp_transport", "tcp", self._url,
        ]  # fmt: skip
        self._stderr_lines = deque(maxlen=_STDERR_LINES)
        self._frames = ProgressRate(skip_first=True)
        self._proc = subprocess.Popen(
            args, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        self._proc_started = time.monotonic()
        self._stderr_thread = threading.Thread(
            target=_drain,
            args=(self._proc.stderr, self._stderr_lines, self._frames),
            name="publisher-stderr",
            daemon=True,
        )
        self._stderr_thread.start()

    def _check_exited(self) -> None:
        if self._proc is not None and self._proc.poll() is not None:
            self._failed()

    def _failed(self) -> None:
        if self._closing:
            return  # close() ended the relay on purpose
        healthy = time.monotonic() - self._proc_started >= _HEALTHY_AFTER_S
        code = self._terminate(grace=1.0)
        if healthy:
            self._backoff.reset()
        delay = self._backoff.next_delay()
        self._retry_at = time.monotonic() + delay
        self._restarts += 1
        # Until the next stream start (a keyframe with its parameter sets) the relay cannot
        # begin mid-stream; the camera's ffmpeg repeats them every keyframe, so no restart of
        # it is needed.
        lines = [scrub(line, self._url) for line in self._stderr_lines]
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
        """End the current relay, politely first; returns its exit code. Safe to call twice."""
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


def keyframe_offset(data: bytes | bytearray) -> int | None:
    """Where in MPEG-TS `data` the first keyframe's program tables start (the PAT just before a
    packet flagged random-access), or None. ffmpeg's muxer flags keyframes and, with
    pat_pmt_at_frames, sends the tables before every frame."""
    start = data.find(b"\x47")
    while start >= 0 and start + _TS_PACKET < len(data) and data[start + _TS_PACKET] != 0x47:
        start = data.find(b"\x47", start + 1)
    if start < 0:
        return None
    last_pat = None
    for offset in range(start, len(data) - _TS_PACKET + 1, _TS_PACKET):
        if data[offset] != 0x47:
            return None  # lost sync: wait for more data
        pid = ((data[offset + 1] & 0x1F) << 8) | data[offset + 2]
        unit_start = data[offset + 1] & 0x40
        adaptation = data[offset + 3] & 0x20 and data[offset + 4] > 0
        if pid == 0:
            last_pat = offset
        elif unit_start and adaptation and data[offset + 5] & 0x40:
            return last_pat if last_pat is not None else offset
    return None


def _drain(pipe: IO[bytes] | None, lines: deque[str], frames: ProgressRate) -> None:
    """Read the relay's stderr to the end so the pipe never fills; keep its last log lines
    and follow its progress."""
    if pipe is None:
        return
    with pipe:
        for raw in pipe:
            line = raw.decode("utf-8", "replace").strip()
            if line.startswith("frame="):
                frames.progress(line)
            elif line and "=" not in line.split(" ", 1)[0]:
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
