"""One ffmpeg per camera: it reads the camera, decodes once and produces everything else.

- The published video, as MPEG-TS into a VideoSink (the Publisher relays it to MediaMTX):
  annotated mode draws the boxes and the name/time label (moved live through the zmq filter,
  detection/annotate.py) and encodes with libx264; original mode copies the camera's own stream
  (`-c copy`, no re-encoding). Without a sink, the stream is copied to nowhere, only counted.
- Analysis frames for the loop: I420 at `analysis_fps` (5 a second by default), through a pipe.
  Python never sees the other frames. A frame the loop did not take before the next one arrived
  is dropped and counted.
- Health: -progress reports frames and drops; stderr says why a connection failed.

A camera that hangs, stops sending, freezes or dies is noticed by a watchdog on the analysis
pipe; the session ends, its status says why (no password), and a new one starts with backoff.
"""

import contextlib
import logging
import os
import re
import select
import shutil
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal, Protocol
from urllib.parse import urlsplit

import cv2
import numpy as np

from .annotate import BoxOverlay, overlay_filters, session_dir, write_label_file
from .backoff import Backoff
from .config import VideoMode
from .detectors import Box
from .logfmt import kv
from .rates import ProgressRate, RateMeter
from .redaction import redact_url, scrub

log = logging.getLogger("skylark.detection")

SourceStatus = Literal["connecting", "online", "offline", "error"]
StatusCallback = Callable[[SourceStatus, str], None]
# A read that stopped: a status to show, or "ended" when ffmpeg closed the pipe.
ReadStop = tuple[SourceStatus | Literal["ended"], str]

NETWORK_SCHEMES = ("rtsp", "rtsps", "http", "https")
# The smallest side (QCIF is 176x144) and the widest aspect ratio of a real camera's picture.
MIN_FRAME_SIDE = 96
MAX_ASPECT = 4.0
# A network camera whose picture has not changed by a single pixel for this long is treated as
# down and reconnected: a real camera's picture always changes a little (sensor noise, its clock).
FROZEN_AFTER_S = 10.0
# Cameras share the cores: one decoding and one encoding thread each (a thread per core costs
# more CPU for the same frames; bench/pipeline_breakdown.py).
CODEC_THREADS = 1
# The encoder's bitrate cap in bits per pixel of each frame: 6.9 Mbit/s for 720p at 15 fps. Its
# quality setting alone lets the bitrate follow the picture's noise (13.3 Mbit/s for a noisy 720p
# scene; pure noise at 640x360 makes 20), so a dashboard of 8 such tiles would pull over
# 100 Mbit/s. Held to the cap, a noisy scene takes 7.2 Mbit/s and 10-12 % less CPU to encode.
MAX_BITS_PER_PIXEL = 0.5
_DEFAULT_FPS = 15
# Copying a stream into MPEG-TS. A file's H.264 is length-prefixed (as MP4 and Matroska store
# it); MPEG-TS wants start codes. A camera's is start-coded already, its parameter sets given
# once in the SDP: dump_extra repeats them before each keyframe, so a relay that starts
# mid-stream can decode. The first packet of an RTSP session with B-frames comes without a PTS,
# which the MPEG-TS muxer refuses ("first pts and dts value must be set"): it gets its DTS.
_FILE_BSF = "h264_mp4toannexb"
_CAMERA_BSF = r"setts=pts=if(eq(PTS\,NOPTS)\,DTS\,PTS),dump_extra"
_STDERR_LINES = 30
_POLL_S = 0.2
# ffmpeg warnings worth a log line, at most one per this many seconds per camera.
_WARN_EVERY_S = 30.0
# Known causes in ffmpeg's words, and how a status line says them.
_CAUSES = (
    ("Connection refused", "connection refused"),
    ("Connection timed out", "connection timed out"),
    ("No route to host", "no route to host"),
    ("Network is unreachable", "network is unreachable"),
    ("401 Unauthorized", "not authorized (check the camera's user name and password)"),
    ("404 Not Found", "stream not found (check the URL's path)"),
    ("Connection reset by peer", "connection lost"),
)
_HOST_NOT_FOUND = ("Name or service not known", "Failed to resolve hostname", "Temporary failure")
# Lines that only say ffmpeg did what it was asked (a resolution change kept at one size).
_QUIET = ("Changing video frame properties on the fly", "Non-monotonous DTS")


def encoder_options(width: int, height: int, fps: int) -> dict[str, str | int]:
    """ffmpeg output options of the annotated video's H.264 (bench/ encodes with the same)."""
    max_rate = int(MAX_BITS_PER_PIXEL * width * height * fps)
    return {
        "c:v": "libx264",
        "preset": "ultrafast",
        "tune": "zerolatency",
        "profile:v": "baseline",
        "pix_fmt": "yuv420p",
        "g": fps,  # a keyframe a second: a new WebRTC viewer starts within a second
        "bf": 0,
        "threads": CODEC_THREADS,
        "crf": 23,
        "maxrate": max_rate,
        "bufsize": max_rate,  # a second's worth: room for the keyframe that starts each second
    }


def _as_args(options: dict[str, str | int]) -> list[str]:
    args: list[str] = []
    for key, value in options.items():
        args += [f"-{key}", str(value)]
    return args


@dataclass(frozen=True, slots=True)
class Frame:
    """One analysis frame: I420 (the Y plane, then U and V at a quarter size each)."""

    yuv: np.ndarray  # shape (height * 3 // 2, width); a fresh array per frame
    at: float  # unix time it was read
    t: float  # monotonic time it was read: use this for intervals
    seq: int  # 1-based number of frames read since start

    @property
    def width(self) -> int:
        return int(self.yuv.shape[1])

    @property
    def height(self) -> int:
        return int(self.yuv.shape[0] * 2 // 3)

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height

    @property
    def gray(self) -> np.ndarray:
        """The luma plane: a grayscale picture, free (a view)."""
        return self.yuv[: self.height]

    def bgr(self) -> np.ndarray:
        """The picture in BGR, for the detector and JPEGs (a new array, about 1 ms at 720p)."""
        return cv2.cvtColor(self.yuv, cv2.COLOR_YUV2BGR_I420)


class VideoSink(Protocol):
    """Takes the published video: MPEG-TS bytes, in order. Must not block."""

    def write(self, data: bytes) -> None: ...

    def new_stream(self) -> None:
        """A new ffmpeg session starts: what follows is a new MPEG-TS stream."""
        ...


@dataclass(frozen=True)
class VideoOutput:
    mode: VideoMode
    sink: VideoSink
    label: str = ""  # the camera's name, drawn with the time in annotated mode
    camera_id: int = 0  # names the session's working directory


@dataclass
class _Session:
    """What one ffmpeg run learned and holds."""

    proc: subprocess.Popen[bytes]
    frames_fd: int
    video_fd: int | None
    overlay: BoxOverlay | None
    size: tuple[int, int] | None = None  # the analysis frames' size, from the y4m header
    input_size: tuple[int, int] | None = None  # the camera's picture, as ffmpeg opened it
    input_known: threading.Event = field(default_factory=threading.Event)
    opened: threading.Event = field(default_factory=threading.Event)  # "Input #0" seen
    lines: deque[str] = field(default_factory=lambda: deque(maxlen=_STDERR_LINES))
    threads: list[threading.Thread] = field(default_factory=list)


class CameraFeed:
    """Runs the camera's ffmpeg sessions on a supervisor thread until stop().

    `source` is an rtsp/rtsps/http(s) URL, a file path or a file:// URL (files play at their
    frame rate, looping unless loop_file=False). `detect_source`, unless in annotated mode, is
    the camera's low-resolution sub-stream: analysis decodes only that.
    """

    def __init__(
        self,
        source: str,
        *,
        detect_source: str | None = None,
        video: VideoOutput | None = None,
        analysis_fps: float = 5.0,
        transport: Literal["tcp", "udp"] = "tcp",
        on_status: StatusCallback | None = None,
        open_timeout_ms: int = 5000,
        read_timeout_ms: int = 4000,
        loop_file: bool = True,
        backoff: Backoff | None = None,
        error_backoff: Backoff | None = None,
        frozen_after_s: float = FROZEN_AFTER_S,
        camera_id: int | None = None,
    ) -> None:
        self._source = source
        # Annotated mode decodes the main stream anyway: the sub-stream would be a second decode.
        annotated = video is not None and video.mode == "annotated"
        self._detect_source = None if annotated else detect_source
        self._shown = redact_url(source)
        self._video = video
        self._analysis_fps = analysis_fps
        self._transport = transport
        self._on_status = on_status
        self._open_timeout_ms = open_timeout_ms
        self._read_timeout_ms = read_timeout_ms
        self._loop_file = loop_file
        self._frozen_after_s = frozen_after_s
        self._camera_id = camera_id
        self._backoff = backoff or Backoff(1.0, 30.0)
        # A source that cannot work as configured is retried too (a file may appear later), slowly.
        self._error_backoff = error_backoff or Backoff(10.0, 60.0)

        self._cond = threading.Condition()
        self._slot: Frame | None = None
        self._stop = threading.Event()
        self._ended = threading.Event()
        self._thread: threading.Thread | None = None
        self._session: _Session | None = None
        self._workdir: Path | None = None
        self._meter = RateMeter()
        self._input_meter = ProgressRate()
        self._last_warning_at: dict[str, float] = {}

        self._state: tuple[SourceStatus, str] = ("connecting", "")
        self._frames_read = 0
        self._frames_dropped = 0
        self._reconnects = 0
        self._last_frame_at: float | None = None
        self._source_fps: float | None = None
        self._source_size: tuple[int, int] | None = None  # of the camera's picture (main stream)
        self._size: tuple[int, int] | None = None  # analysis size of the trusted sessions
        self._new_size: tuple[int, int] | None = None  # a different one, awaiting confirmation

    # -- consumer side ---------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("CameraFeed already started")
        self._thread = threading.Thread(target=self._run, name="camera-feed", daemon=True)
        self._thread.start()

    def get(self, timeout: float) -> Frame | None:
        """The newest analysis frame not yet taken, waiting up to `timeout` s; None if none came."""
        with self._cond:
            self._cond.wait_for(
                lambda: self._slot is not None or self._ended.is_set() or self._stop.is_set(),
                timeout,
            )
            frame, self._slot = self._slot, None
            return frame

    def show_boxes(self, boxes: list[Box], ignored: list[Box] | None = None) -> None:
        """Annotated mode: draw these boxes on the published video from the next frame on (and
        `ignored`, the faces outside every zone or inside a mask, in another colour)."""
        session = self._session
        if session is not None and session.overlay is not None and session.size is not None:
            session.overlay.show(boxes, session.size, ignored or [])

    def stop(self, timeout: float | None = None) -> bool:
        """End ffmpeg and the threads; False if the supervisor is still stuck after timeout."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is None:
            return True
        if timeout is None:
            timeout = 5.0
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
        """Frames a second ffmpeg takes from the camera."""
        return self._input_meter.rate()

    @property
    def analysis_fps(self) -> float:
        """Analysis frames a second asked of ffmpeg (taken at fixed steps of video time)."""
        return self._analysis_fps

    @property
    def analysis_rate(self) -> float:
        """Analysis frames a second handed to the loop."""
        return self._meter.rate()

    @property
    def frames_read(self) -> int:
        """Analysis frames read since start."""
        return self._frames_read

    @property
    def frames_dropped(self) -> int:
        """Analysis frames the loop was too busy to take, and frames ffmpeg dropped."""
        return self._frames_dropped + self._input_meter.dropped

    @property
    def reconnects(self) -> int:
        """Connection attempts after the first one, failed or not."""
        return self._reconnects

    @property
    def last_frame_at(self) -> float | None:
        return self._last_frame_at

    @property
    def source_fps(self) -> float | None:
        """The frame rate the camera declares, if plausible."""
        return self._source_fps

    @property
    def source_size(self) -> tuple[int, int] | None:
        """(width, height) of the camera's (main stream's) picture, once known."""
        return self._source_size

    # -- supervisor thread -----------------------------------------------------------------

    def _run(self) -> None:
        self._notify("connecting", "")
        first = True
        try:
            while not self._stop.is_set():
                if not first:
                    self._reconnects += 1
                first = False
                failure = self._run_session()
                if failure is None:
                    return
                status, reason = failure
                self._set_state(status, reason)
                backoff = self._error_backoff if status == "error" else self._backoff
                self._stop.wait(backoff.next_delay())
        finally:
            if self._workdir is not None:
                shutil.rmtree(self._workdir, ignore_errors=True)

    def _run_session(self) -> tuple[SourceStatus, str] | None:
        """One ffmpeg run. None when stopped or a non-looping file ended."""
        path, problem = self._check_source()
        if problem:
            return "error", problem
        if self._detect_source:
            _, problem = _check_source(self._detect_source)
            if problem:
                return "error", f"detect stream: {problem}"
        publish_size = None
        if self._video is not None and self._video.mode == "annotated":
            probed = self._probe(path)
            if len(probed) == 2:  # (status, reason): ffprobe could not tell
                return probed
            publish_size = probed
        try:
            session = self._open(path, publish_size)
        except OSError as exc:
            return "error", f"could not start ffmpeg: {exc.strerror or exc}"
        self._session = session
        try:
            return self._read_frames(session, is_file=bool(path))
        finally:
            self._session = None
            self._close(session)

    def _check_source(self) -> tuple[str | None, str]:
        return _check_source(self._source)

    def _probe(self, path: str | None) -> tuple[int, int, int] | tuple[SourceStatus, str]:
        """The picture's size and frame rate, which the encoder needs before it starts: known
        from the last session, else asked of ffprobe (one extra connection, at the first start)."""
        if self._source_size is not None:
            return (*self._source_size, round(self._source_fps or _DEFAULT_FPS))
        args = ["ffprobe", "-hide_banner", "-v", "error"]
        args += self._input_args(path, self._source, probe=True)
        args += ["-select_streams", "v:0", "-show_entries", "stream=width,height,avg_frame_rate"]
        args += ["-of", "default=noprint_wrappers=1", path or self._source]
        deadline = self._open_timeout_ms / 1000 + 2.0
        try:
            done = subprocess.run(args, capture_output=True, timeout=deadline, check=False)
        except subprocess.TimeoutExpired:
            return (
                "offline",
                f"no response within {self._open_timeout_ms / 1000:g} s ({self._shown})",
            )
        values = dict(
            line.split("=", 1) for line in done.stdout.decode().splitlines() if "=" in line
        )
        try:
            width, height = int(values["width"]), int(values["height"])
        except (KeyError, ValueError):
            lines = [scrub(line, self._source) for line in done.stderr.decode().splitlines()]
            return self._failure(lines, path, opened=False)
        fps = _parse_rate(values.get("avg_frame_rate", "")) or _DEFAULT_FPS
        self._source_fps = fps
        return width, height, round(fps)

    def _input_args(self, path: str | None, source: str, probe: bool = False) -> list[str]:
        if path:
            return [] if probe else ["-re", *(["-stream_loop", "-1"] if self._loop_file else [])]
        scheme = source.split("://", 1)[0].lower()
        # A backstop only: the watchdog on the analysis pipe says first (and says why).
        read_timeout_us = str((max(self._open_timeout_ms, self._read_timeout_ms) + 2000) * 1000)
        args = ["-analyzeduration", "1000000"]
        if scheme in ("rtsp", "rtsps"):
            args += ["-rtsp_transport", self._transport, "-timeout", read_timeout_us]
        else:
            args += ["-rw_timeout", read_timeout_us]
        return args

    def _open(self, path: str | None, publish: tuple[int, int, int] | None) -> _Session:
        frames_r, frames_w = os.pipe()
        video_r = video_w = None
        overlay = None
        video = self._video
        args = ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "level+info", "-nostats"]
        args += ["-progress", "pipe:2", "-stats_period", "0.5", "-reinit_filter", "0"]
        args += self._input_args(path, self._source)
        args += ["-threads", str(CODEC_THREADS), "-i", path or self._source]
        analysed = "0:v:0"
        if self._detect_source:
            detect_path, _ = _check_source(self._detect_source)
            args += self._input_args(detect_path, self._detect_source)
            args += ["-threads", str(CODEC_THREADS), "-i", detect_path or self._detect_source]
            analysed = "1:v:0"
        analysis = f"fps={self._analysis_fps:g},format=yuv420p"
        graph: list[str] = []
        outputs: list[str] = []
        if video is not None and publish is not None:
            width, height, fps = publish
            if self._workdir is None:
                self._workdir = session_dir(video.camera_id)
            overlay = BoxOverlay(self._workdir)
            label = write_label_file(self._workdir, video.label)
            draw = overlay_filters(overlay.address, label, (width, height))
            graph.append(f"[0:v:0]scale=w={width}:h={height},split=2[main][analysis]")
            graph.append(f"[main]{draw}[published]")
            graph.append(f"[analysis]{analysis}[frames]")
            video_r, video_w = os.pipe()
            outputs += ["-map", "[published]", *_as_args(encoder_options(width, height, fps))]
            outputs += ["-fps_mode", "passthrough", "-bsf:v", "dump_extra"]
            outputs += _mpegts(video_w)
        else:
            graph.append(f"[{analysed}]scale=w=iw:h=ih,{analysis}[frames]")
            outputs += ["-map", "0:v:0", "-c:v", "copy"]
            if video is not None:
                video_r, video_w = os.pipe()
                outputs += ["-bsf:v", _FILE_BSF if path else _CAMERA_BSF]
                outputs += _mpegts(video_w)
            else:
                outputs += ["-f", "null", "-"]
        outputs += ["-map", "[frames]", "-f", "yuv4mpegpipe", f"pipe:{frames_w}"]
        args += ["-filter_complex", ";".join(graph), *outputs]
        pass_fds = [fd for fd in (frames_w, video_w) if fd is not None]
        try:
            proc = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                pass_fds=pass_fds,
            )
        except OSError:
            for fd in (frames_r, frames_w, video_r, video_w):
                if fd is not None:
                    os.close(fd)
            if overlay is not None:
                overlay.close()
            raise
        for fd in pass_fds:
            os.close(fd)
        session = _Session(proc, frames_r, video_r, overlay)
        self._input_meter.restart()
        reader = threading.Thread(
            target=self._read_stderr, args=(session,), name="ffmpeg-stderr", daemon=True
        )
        session.threads.append(reader)
        if video is not None and video_r is not None:
            video.sink.new_stream()
            relay = threading.Thread(
                target=_copy_video, args=(video_r, video.sink), name="video-out", daemon=True
            )
            session.threads.append(relay)
        for thread in session.threads:
            thread.start()
        return session

    def _read_frames(self, session: _Session, is_file: bool) -> tuple[SourceStatus, str] | None:
        fd = session.frames_fd
        started = time.monotonic()
        header = self._read_line(session, fd, started + self._open_timeout_ms / 1000, started)
        if isinstance(header, tuple):
            return header
        size = _y4m_size(header)
        if size is None:
            return "offline", f"unreadable frames from ffmpeg ({self._shown})"
        if session.overlay is None:
            checked = size
        else:
            # Annotated: the frames come at the encoder's size, chosen before ffmpeg started;
            # the camera's own picture is what to check.
            session.input_known.wait(1.0)
            checked = session.input_size or size
        if problem := self._untrusted_size(checked):
            return "offline", f"{problem} ({self._shown})"
        if checked != size and session.overlay is not None:
            # A camera back at a new, confirmed size: encode at that size from the next session.
            self._source_size = checked
            old_width, old_height = size
            return "offline", (
                f"frame size changed from {old_width}x{old_height} to "
                f"{checked[0]}x{checked[1]}; restarting at the new size ({self._shown})"
            )
        session.size = size
        width, height = size
        frame_bytes = width * height * 3 // 2
        freeze = None if is_file else _FreezeWatch(self._frozen_after_s)
        got_frame = False
        while not self._stop.is_set():
            deadline = time.monotonic() + self._read_timeout_ms / 1000
            marker = self._read_exact(session, fd, 6, deadline)
            if isinstance(marker, tuple):
                return self._frames_failed(marker, got_frame, is_file)
            if bytes(marker) != b"FRAME\n":
                return "offline", f"unreadable frames from ffmpeg ({self._shown})"
            data = self._read_exact(session, fd, frame_bytes, deadline)
            if isinstance(data, tuple):
                return self._frames_failed(data, got_frame, is_file)
            yuv = np.frombuffer(data, np.uint8).reshape(height * 3 // 2, width)
            if not got_frame:
                got_frame = True
                self._backoff.reset()
                self._error_backoff.reset()
                self._set_state("online", "")
            now = time.monotonic()
            if freeze and freeze.frozen(yuv[:height], now):
                return "offline", f"picture frozen for {self._frozen_after_s:g} s ({self._shown})"
            self._offer(yuv, now)
        return None

    def _frames_failed(
        self, failure: ReadStop, got_frame: bool, is_file: bool
    ) -> tuple[SourceStatus, str] | None:
        status, reason = failure
        if status != "ended":
            return status, reason
        if is_file and got_frame and not self._loop_file:
            self._ended.set()
            with self._cond:
                self._cond.notify_all()
            return None
        session = self._session
        lines = list(session.lines) if session else []
        if got_frame and not is_file:
            cause = _known_cause(lines)
            return "offline", f"{cause or 'stream ended'} ({self._shown})"
        return self._failure(lines, None, opened=True, got_frame=got_frame)

    def _read_line(
        self, session: _Session, fd: int, deadline: float, started: float
    ) -> bytes | tuple[SourceStatus, str]:
        """The y4m header line. Until ffmpeg has opened the input, the open timeout applies;
        then the read timeout, for the first frame to be decoded."""
        line = bytearray()
        opened_deadline: float | None = None
        while not line.endswith(b"\n"):
            if self._stop.is_set():
                return "offline", "stopped"
            now = time.monotonic()
            if session.opened.is_set() and opened_deadline is None:
                opened_deadline = now + self._read_timeout_ms / 1000
            limit = opened_deadline if opened_deadline is not None else deadline
            if now >= limit:
                if opened_deadline is None:
                    seconds = self._open_timeout_ms / 1000
                    return "offline", f"no response within {seconds:g} s ({self._shown})"
                return "offline", f"opened but no frames from {self._shown}"
            ready, _, _ = select.select([fd], [], [], min(_POLL_S, limit - now))
            if not ready:
                continue
            chunk = os.read(fd, 1)
            if not chunk:
                self._wait_exit(session)
                return self._failure(list(session.lines), self._check_source()[0], opened=False)
            line += chunk
            if len(line) > 256:
                return "offline", f"unreadable frames from ffmpeg ({self._shown})"
        return bytes(line)

    def _read_exact(
        self, session: _Session, fd: int, count: int, deadline: float
    ) -> bytearray | ReadStop:
        """count bytes from the pipe; ("ended", "") at its end; offline once deadline passes."""
        buffer = bytearray(count)
        view = memoryview(buffer)
        got = 0
        while got < count:
            if self._stop.is_set():
                return "offline", "stopped"
            now = time.monotonic()
            if now >= deadline:
                seconds = self._read_timeout_ms / 1000
                return "offline", f"no frames for {seconds:g} s ({self._shown})"
            ready, _, _ = select.select([fd], [], [], min(_POLL_S, deadline - now))
            if not ready:
                continue
            n = os.readv(fd, [view[got:]])
            if n == 0:
                self._wait_exit(session)
                return "ended", ""
            got += n
        return buffer

    def _wait_exit(self, session: _Session) -> None:
        """ffmpeg closed its pipe: let it finish saying why."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            session.proc.wait(2.0)
        for thread in session.threads[:1]:
            thread.join(1.0)

    def _failure(
        self, lines: list[str], path: str | None, opened: bool, got_frame: bool = False
    ) -> tuple[SourceStatus, str]:
        """Why a session ended before any frame, in a status line's words."""
        if path:
            if any(
                "Invalid data found" in line or "could not find codec" in line for line in lines
            ):
                return "error", f"could not open {path} (not a readable video file)"
            return "error", f"could not decode frames from {path}"
        cause = _known_cause(lines)
        if cause is None and any(needle in line for line in lines for needle in _HOST_NOT_FOUND):
            cause = f"host not found: {_host(self._source)}"
        if cause:
            return "offline", f"{cause} ({self._shown})"
        if got_frame:
            return "offline", f"stream ended ({self._shown})"
        detail = lines[-1].split("] ", 1)[-1] if lines else ""
        if opened or detail:
            return "offline", f"could not open {self._shown}" + (f": {detail}" if detail else "")
        return "offline", f"opened but no frames from {self._shown}"

    def _untrusted_size(self, size: tuple[int, int]) -> str:
        """Why a session's frames cannot be trusted to show the camera's picture, or ''.

        A session opened on damaged packets can take its size from a damaged parameter set
        (64x32, 2048x32 and 640x160 for a 640x360 camera seen), so a size no camera has is
        refused, and a size other than the one seen before is believed only once a second
        session opens with it too (a camera that really changed resolution between sessions
        costs one reconnect; a change within a session is scaled back to its first size).
        """
        width, height = size
        if min(width, height) < MIN_FRAME_SIDE or max(width, height) > MAX_ASPECT * min(
            width, height
        ):
            return f"implausible frame size {width}x{height}, damaged stream?"
        if self._size is None or size in (self._size, self._new_size):
            self._size, self._new_size = size, None
            return ""
        self._new_size = size
        old_width, old_height = self._size
        return (
            f"frame size changed from {old_width}x{old_height} to {width}x{height}; "
            "reconnecting to confirm it"
        )

    def _offer(self, yuv: np.ndarray, t: float) -> None:
        now = time.time()
        with self._cond:
            self._frames_read += 1
            if self._slot is not None:
                self._frames_dropped += 1
            self._slot = Frame(yuv, now, t, self._frames_read)
            self._last_frame_at = now
            self._cond.notify_all()
        self._meter.tick()

    def _close(self, session: _Session) -> None:
        """End ffmpeg (politely: it closes the published stream), its pipes and threads."""
        os.close(session.frames_fd)  # a writer blocked on a full pipe is freed at once
        proc = session.proc
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(1.0)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for thread in session.threads:
            thread.join(2.0)
        if session.overlay is not None:
            session.overlay.close()

    # -- stderr ----------------------------------------------------------------------------

    def _read_stderr(self, session: _Session) -> None:
        """ffmpeg's log and -progress lines: input facts, health figures, the last words."""
        stream: IO[bytes] | None = session.proc.stderr
        if stream is None:
            return
        with stream:
            for raw in stream:
                line = raw.decode("utf-8", "replace").strip()
                if not line:
                    continue
                if "=" in line and not line.startswith("["):
                    self._input_meter.progress(line)
                    continue
                level, text = _log_line(line)
                text = scrub(text, self._source)
                if self._detect_source:
                    text = scrub(text, self._detect_source)
                if text.startswith("Input #0"):
                    session.opened.set()
                elif text.lstrip().startswith("Stream #0:") and "Video:" in text:
                    self._learn_stream(session, text)
                if any(quiet in text for quiet in _QUIET):
                    continue
                session.lines.append(text)
                if level in ("warning", "error", "fatal") and not self._stop.is_set():
                    self._log_ffmpeg(level, text)

    def _learn_stream(self, session: _Session, text: str) -> None:
        """The first video stream's size and frame rate, from ffmpeg's description of it."""
        if session.input_known.is_set():
            return
        size = re.search(r", (\d{2,5})x(\d{2,5})", text)
        fps = re.search(r", ([\d.]+) fps", text)
        if size:
            session.input_size = (int(size.group(1)), int(size.group(2)))
            if self._source_size is None:
                self._source_size = session.input_size
        if fps:
            value = float(fps.group(1))
            self._source_fps = value if 1.0 <= value <= 240.0 else None
        session.input_known.set()

    def _log_ffmpeg(self, level: str, text: str) -> None:
        """A damaged stream makes ffmpeg complain many times a second: each kind of complaint
        (its first words) is logged once per _WARN_EVERY_S."""
        now = time.monotonic()
        kind = " ".join(text.split()[:3])
        if now - self._last_warning_at.get(kind, -_WARN_EVERY_S) < _WARN_EVERY_S:
            return
        if len(self._last_warning_at) > 100:
            self._last_warning_at.clear()
        self._last_warning_at[kind] = now
        log.warning(kv(event="ffmpeg_" + level, camera=self._camera_id, message=text))

    # -- status ----------------------------------------------------------------------------

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
            log.exception(kv(event="status_callback_failed", status=status))


class _FreezeWatch:
    """Notices a stream whose frames keep coming but whose picture never changes: one frame a
    second is compared with the one before (a copy of its luma plane: ~0.1 ms a second)."""

    def __init__(self, after_s: float) -> None:
        self._after_s = after_s
        self._reference: np.ndarray | None = None
        self._checked_at = 0.0
        self._same_since: float | None = None

    def frozen(self, gray: np.ndarray, now: float) -> bool:
        if now - self._checked_at < 1.0:
            return False
        self._checked_at = now
        if self._reference is not None and np.array_equal(gray, self._reference):
            if self._same_since is None:
                self._same_since = now
            return now - self._same_since >= self._after_s - 1.0
        self._same_since = None
        self._reference = gray.copy()
        return False


def _check_source(source: str) -> tuple[str | None, str]:
    """(file path or None for a URL, reason it can never work or '')."""
    if source.startswith("file://"):
        source = source[len("file://") :]
    elif "://" in source:
        scheme = source.split("://", 1)[0].lower()
        if scheme not in NETWORK_SCHEMES:
            return None, (
                f"unsupported URL scheme '{scheme}' in {redact_url(source)} "
                "(use rtsp, rtsps, http, https or a file path)"
            )
        return None, ""
    if not os.path.isfile(source):
        return source, f"file not found: {source}"
    return source, ""


def _mpegts(fd: int) -> list[str]:
    """An MPEG-TS output on a pipe, every packet flushed at once (no muxing delay), the program
    tables before every frame: a relay can start on any keyframe (detection/publisher.py)."""
    return [
        "-an", "-f", "mpegts", "-muxdelay", "0", "-flush_packets", "1",
        "-mpegts_flags", "+pat_pmt_at_frames", f"pipe:{fd}",
    ]  # fmt: skip


def _copy_video(fd: int, sink: VideoSink) -> None:
    """Hands the published stream to the sink as it comes, until ffmpeg closes it."""
    with open(fd, "rb", buffering=0) as pipe:
        while chunk := pipe.read(1 << 16):
            try:
                sink.write(chunk)
            except Exception:
                log.exception(kv(event="video_sink_failed"))


_LOG_LINE = re.compile(r"^(?:\[(\w+) @ 0x[0-9a-f]+\] )?\[(\w+)\] (.*)$")


def _log_line(line: str) -> tuple[str, str]:
    """(level, message) of a `-loglevel level+...` line, the component named without its
    address: "[h264 @ 0x55d0] [error] damaged" -> ("error", "h264: damaged")."""
    match = _LOG_LINE.match(line)
    if match is None:
        return "", line
    component, level, text = match.groups()
    return level, f"{component}: {text}" if component else text


def _y4m_size(header: bytes) -> tuple[int, int] | None:
    if not header.startswith(b"YUV4MPEG2 "):
        return None
    width = height = None
    for token in header.split():
        if token[:1] == b"W":
            width = int(token[1:])
        elif token[:1] == b"H":
            height = int(token[1:])
    if width is None or height is None or width <= 0 or height <= 0:
        return None
    return width, height


def _parse_rate(value: str) -> float | None:
    num, _, den = value.partition("/")
    try:
        rate = float(num) / float(den or 1)
    except (ValueError, ZeroDivisionError):
        return None
    return rate if 1.0 <= rate <= 240.0 else None


def _known_cause(lines: list[str]) -> str | None:
    text = "\n".join(lines)
    for needle, reason in _CAUSES:
        if needle in text:
            return reason
    return None


def _host(url: str) -> str:
    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return ""
