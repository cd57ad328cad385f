"""Start, stop and kill the fake RTSP camera, and receive RTSP pushes the way MediaMTX would.

For tests, benchmarks and the demo launcher; the camera itself runs in rtsp_server.py on the
system python, because GStreamer's bindings live there and not in the virtualenv.
"""

import os
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Self

import cv2
import numpy as np

from .videos import ensure_substream

SERVER_SCRIPT = Path(__file__).with_name("rtsp_server.py")
# The interpreter that has GStreamer's bindings (Debian: python3-gi); not the virtualenv's.
SYSTEM_PYTHON = os.environ.get("SKYLARK_GST_PYTHON", "/usr/bin/python3")
HOST = "127.0.0.1"
# A stream's sub-stream is served at its name plus this: /cam1 and /cam1_sub.
SUBSTREAM_SUFFIX = "_sub"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _stop_process(process: subprocess.Popen, grace_s: float = 5.0) -> None:
    """SIGTERM, then SIGKILL if it is still there after grace_s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(grace_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _tail(log: IO[bytes], limit: int = 4000) -> str:
    log.seek(0)
    return log.read().decode(errors="replace")[-limit:].strip()


class Managed:
    """`with x:` starts x and closes it however the block ends."""

    def start(self) -> Self:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class CameraSimulator(Managed):
    """RTSP cameras serving video files, one stream per name, in a subprocess of their own.

        with CameraSimulator({"cam1": video}) as cameras:
            url = cameras.url("cam1")  # rtsp://127.0.0.1:PORT/cam1
            cameras.kill()             # the camera drops off the network
            cameras.restart()          # and comes back on the same URL

    With loop=True (the default) each client sees its file replayed endlessly, like a camera that
    never stops; each client's playback starts at the beginning of the file.

    With substream=(640, 360), each stream also has a low-resolution sub-stream, as most IP
    cameras do: the same picture at that size and the same frame rate, at NAME_sub
    (`sub_url(name)`), from a scaled copy of the file (videos.ensure_substream).
    """

    def __init__(
        self,
        streams: Mapping[str, Path],
        port: int | None = None,
        loop: bool = True,
        substream: tuple[int, int] | None = None,
    ):
        if not streams:
            raise ValueError("CameraSimulator needs at least one stream")
        self.streams = {name: Path(path) for name, path in streams.items()}
        self.loop = loop
        self.substream = substream
        self._port = port
        self._process: subprocess.Popen | None = None
        self._stderr: IO[bytes] | None = None

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the simulator has not started yet, so it has no port")
        return self._port

    @property
    def base_url(self) -> str:
        return f"rtsp://{HOST}:{self.port}/"

    def url(self, name: str) -> str:
        names = self.stream_names()
        if name not in names:
            raise KeyError(f"no stream named {name!r}; streams: {', '.join(names)}")
        return self.base_url + name

    def sub_url(self, name: str) -> str:
        """The URL of the sub-stream of stream `name` (with `substream` set)."""
        if self.substream is None:
            raise KeyError("this simulator serves no sub-streams; pass substream=(width, height)")
        return self.url(name + SUBSTREAM_SUFFIX)

    def stream_names(self) -> list[str]:
        """Every name served: the streams, then their sub-streams if any."""
        subs = [name + SUBSTREAM_SUFFIX for name in self.streams] if self.substream else []
        return [*self.streams, *subs]

    def _served(self) -> dict[str, Path]:
        served = dict(self.streams)
        if self.substream is not None:
            width, height = self.substream
            for name, path in self.streams.items():
                served[name + SUBSTREAM_SUFFIX] = ensure_substream(path, width, height)
        return served

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout_s: float = 15.0) -> Self:
        """Launch the server and wait for its READY line."""
        if self.running:
            raise RuntimeError("the simulator is already running")
        args = [SYSTEM_PYTHON, str(SERVER_SCRIPT), "--host", HOST, "--port", str(self._port or 0)]
        args += [
            arg for name, path in self._served().items() for arg in ("--stream", f"{name}={path}")
        ]
        if self.loop:
            args.append("--loop")
        # stderr goes to a file, since a pipe nobody reads would block a chatty GStreamer. It stays
        # open after the server ends so that stderr_text() can still explain why it ended.
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115
        self._process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self._stderr)
        ready = self._wait_for_ready(timeout_s)
        # Later starts reuse the port, so restart() brings the camera back on the same URL.
        self._port = int(ready.rstrip("/").rsplit(":", 1)[1])
        return self

    def _wait_for_ready(self, timeout_s: float) -> str:
        assert self._process is not None and self._process.stdout is not None
        stdout = self._process.stdout.fileno()
        deadline = time.monotonic() + timeout_s
        output = b""
        while b"\n" not in output:
            remaining = deadline - time.monotonic()
            readable, _, _ = select.select([stdout], [], [], max(remaining, 0))
            chunk = os.read(stdout, 4096) if readable else b""
            if not chunk:  # end of output (the server exited) or out of time
                exit_code = self._process.poll()
                self.kill()
                why = f"exited with {exit_code}" if exit_code is not None else "timed out"
                raise RuntimeError(f"camera simulator {why} before READY: {self.stderr_text()}")
            output += chunk
        line = output.decode().splitlines()[0]
        if not line.startswith("READY rtsp://"):
            self.kill()
            raise RuntimeError(f"camera simulator said {line!r}: {self.stderr_text()}")
        return line.removeprefix("READY ")

    def stderr_text(self) -> str:
        """What the server has written to stderr (the end of it)."""
        return _tail(self._stderr) if self._stderr is not None else ""

    def stop(self) -> None:
        """Shut the server down (SIGTERM, then SIGKILL after 5 s)."""
        if self._process is not None:
            _stop_process(self._process)
            self._close()

    def kill(self) -> None:
        """SIGKILL the server: connections drop and new ones are refused, like a dead camera."""
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._close()

    def restart(self, timeout_s: float = 15.0) -> Self:
        """Stop the server if it runs and start it again on the same port."""
        self.stop()
        return self.start(timeout_s)

    def freeze(self) -> None:
        """SIGSTOP the server, like a camera that hangs: its connections stay open and new ones
        are still accepted (the kernel completes the handshake), but nothing is sent or answered
        until thaw(). kill() ends a frozen server at once; stop() only after its 5 s grace."""
        if not self.running:
            raise RuntimeError("the simulator is not running")
        assert self._process is not None
        self._process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        """SIGCONT a frozen server: it answers and streams again where it stopped."""
        if self.running:
            assert self._process is not None
            self._process.send_signal(signal.SIGCONT)

    def serve(self, name: str, video: Path, timeout_s: float = 15.0) -> Self:
        """Serve another file at `name` (of another resolution, say) from now on.

        The server restarts on the same port, as a camera applying a new video setting does:
        connected clients lose their session and get the new file when they reconnect. The
        sub-stream, if any, follows the new file.
        """
        if name not in self.streams:
            raise KeyError(f"no stream named {name!r}; streams: {', '.join(self.streams)}")
        self.streams[name] = Path(video)
        return self.restart(timeout_s)

    def _close(self) -> None:
        assert self._process is not None
        if self._process.stdout is not None:
            self._process.stdout.close()
        self._process = None

    def close(self) -> None:
        """Stop; `with` calls it."""
        self.stop()


def is_listening(port: int) -> bool:
    """Whether a server is up on the port, read from /proc so the one connection a one-shot
    ffmpeg server (listen mode) accepts is not spent on a probe. Such a server listens no more
    once it has taken its client, and a client retrying in a loop can be quicker than any poll:
    an accepted connection on the port counts too."""
    local = f":{port:04X}"
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            fields = line.split()
            # 0A: listening; 01: established, and the accepted side has the port as its own.
            if fields[1].endswith(local) and fields[3] in ("0A", "01"):
                return True
    return False


class RtspReceiver(Managed):
    """Accepts one RTSP publisher (ANNOUNCE/RECORD), as MediaMTX does, and keeps what it sends.

    ffmpeg's listen mode records the pushed H.264 as it is into a Matroska file; frames()
    decodes it. That mode serves exactly one publishing session: when the publisher disconnects,
    ffmpeg finalizes the file and exits (`running` turns False). To take the publisher's next
    session (say, after it restarts ffmpeg), call restart(): it listens again on the same URL and
    starts a new recording, so frames() then returns the new session's frames.

        with RtspReceiver("live/cam-1") as receiver:
            publish_to(receiver.url)
            receiver.wait_for_frames(30, timeout_s=10)
            first = receiver.frames(limit=5)
    """

    def __init__(
        self, path: str = "live/cam", port: int | None = None, workdir: Path | None = None
    ):
        self.path = path.strip("/")
        self.port = port or free_port()
        self._own_workdir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="skylark-rtsp-receiver-"))
        self.recording = self.workdir / "received.mkv"
        self._progress = self.workdir / "progress.txt"
        self._log = self.workdir / "ffmpeg.log"
        self._process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """Where a publisher pushes to."""
        return f"rtsp://{HOST}:{self.port}/{self.path}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout_s: float = 10.0) -> Self:
        """Listen for a publisher (a new recording); returns once the port accepts connections."""
        if self.running:
            raise RuntimeError("the receiver is already listening")
        self.workdir.mkdir(parents=True, exist_ok=True)
        for stale in (self.recording, self._progress):
            stale.unlink(missing_ok=True)
        args = [
            "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
            "-rtsp_flags", "listen", "-i", self.url,
            "-map", "0:v:0", "-c", "copy",
            # An RTSP session of a stream with B-frames (a camera's, copied by original mode)
            # starts with a packet without PTS, which Matroska cannot store; MediaMTX copes.
            "-bsf:v", r"setts=pts=if(eq(PTS\,NOPTS)\,DTS\,PTS)",
            # frame_count() reads the frame=N lines ffmpeg appends here four times a second.
            "-progress", str(self._progress), "-stats_period", "0.25",
            "-f", "matroska", str(self.recording),
        ]  # fmt: skip
        with self._log.open("wb") as log:
            self._process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.monotonic() + timeout_s
        while not is_listening(self.port):
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"RTSP receiver did not start listening: {self.log_text()}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        """Stop listening or recording; the frames received stay readable."""
        if self._process is not None:
            # SIGTERM (not SIGKILL) lets ffmpeg finish the Matroska file properly.
            _stop_process(self._process)
            self._process = None

    def restart(self, timeout_s: float = 10.0) -> Self:
        """Listen again on the same URL for the publisher's next session (drops the last one)."""
        self.stop()
        return self.start(timeout_s)

    def log_text(self) -> str:
        """ffmpeg's errors so far."""
        return self._log.read_text(errors="replace").strip() if self._log.exists() else ""

    def frame_count(self) -> int:
        """Video frames received so far in this session."""
        if not self._progress.exists():
            return 0
        counts = [
            int(line.removeprefix("frame="))
            for line in self._progress.read_text().splitlines()
            if line.startswith("frame=")
        ]
        return counts[-1] if counts else 0

    def wait_for_frames(self, count: int, timeout_s: float = 10.0) -> int:
        """Wait until `count` frames have arrived; returns how many have. Raises TimeoutError."""
        deadline = time.monotonic() + timeout_s
        while (received := self.frame_count()) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"received {received} of {count} frames at {self.url} in {timeout_s}s; "
                    f"ffmpeg says: {self.log_text() or '(nothing)'}"
                )
            time.sleep(0.1)
        return received

    def frames(self, limit: int | None = None, step: int = 1) -> list[np.ndarray]:
        """Decoded BGR frames received in this session (every `step`-th, at most `limit`).

        Works while receiving too, up to what ffmpeg has written so far. 720p frames take
        2.7 MB each, so long sessions want a limit or a step.
        """
        if not self.recording.exists():
            return []
        capture = cv2.VideoCapture(str(self.recording))
        frames: list[np.ndarray] = []
        index = 0
        try:
            while limit is None or len(frames) < limit:
                ok, frame = capture.read()
                if not ok:
                    break
                if index % step == 0:
                    frames.append(frame)
                index += 1
        finally:
            capture.release()
        return frames

    def close(self) -> None:
        """Stop, and delete the recording if the receiver made its own working directory."""
        self.stop()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
