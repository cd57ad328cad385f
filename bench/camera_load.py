"""Runs N simulated 720p 15 fps cameras through a load (the real pipeline, or the floor) and
measures one steady window: CPU from /proc, output fps, detections and alert latency.

Used by pipeline_cpu.py (per-camera CPU) and camera_capacity.py (capacity curves). Loads:

- "pipeline": bench/camera_host.py running detection.pipeline.Pipeline for each camera, reading
  the CameraSimulator over RTSP/TCP and publishing to one RtspReceiver per camera (MediaMTX's
  stand-in); fps from StatusReport.fps_out, cross-checked with the frames the receiver got.
- "ffmpeg": the floor's video part, one `ffmpeg -i rtsp://sim -c:v libx264 -preset ultrafast
  -tune zerolatency ... -f rtsp rtsp://receiver` per camera (the Publisher's encoder settings).
- "detector": the floor's detector part, camera_host.py --bare-detector: detect_downscaled() on
  the same video's frames at the same interval, one thread per camera.
- "floor": "ffmpeg" and "detector" together.
"""

import contextlib
import json
import math
import os
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal

from bench.common import (
    BENCH_DIR,
    PYTHON,
    ROOT,
    CpuMeter,
    encoder_args,
    median,
    say,
    stop_process,
)
from detection.capture import CODEC_THREADS
from simulator.control import CameraSimulator, RtspReceiver
from simulator.videos import FaceSpan, VideoTruth, ensure_video, load_truth

LoadKind = Literal["pipeline", "ffmpeg", "detector", "floor"]
FPS_GOAL = 14.0
DETECTION_RATE_GOAL = 0.9

# Busy: a face 6 s of every 10 s (like the streams end-to-end test). Still: one 3 s appearance in
# 30 s, nothing else moving (a slow exposure drift and the frame counter only).
# The last number is the scene's period: camera starts are spread over it, so that at any moment
# the cameras are at different points of it, as independent real cameras would be.
SCENES = {
    "busy": ("bench-busy", [FaceSpan(2 + 10 * i, 8 + 10 * i) for i in range(4)], 40.0, 10.0),
    "still": ("bench-still", [FaceSpan(12, 15)], 30.0, 30.0),
}


@dataclass(frozen=True)
class Scene:
    name: str  # busy | still
    path: Path
    truth: VideoTruth
    period_s: float


def scene(name: str) -> Scene:
    """The scene's 720p 15 fps video (generated once into the video cache) and its truth."""
    video_name, spans, duration, period = SCENES[name]
    path = ensure_video(video_name, spans, duration)
    return Scene(name, path, load_truth(path), period)


@dataclass
class StepResult:
    load: str  # pipeline | ffmpeg | detector | floor
    detector: str  # haar | yunet | -
    gating: bool
    scene: str
    cameras: int
    processes: int = 1  # host processes the pipelines ran in
    detections_wanted_per_s: float = 0.0  # gating off: 1000 / interval_ms; else 0 (not checked)
    window_s: float = 0.0
    cpu_pct: float = math.nan  # the load's processes, % of one core (200 = a 2-core machine)
    host_cpu_pct: float = math.nan  # the Python process(es) of the load
    encoder_cpu_pct: float = math.nan  # the load's ffmpeg encoders
    harness_cpu_pct: float = math.nan  # camera simulator + RTSP receivers (not the load)
    machine_busy_pct: float = math.nan  # the whole machine, other people's work included
    fps_status_min: float = math.nan  # min over cameras of the median StatusReport.fps_out
    fps_status_median: float = math.nan
    fps_received_min: float = math.nan  # min over cameras of frames received / window
    fps_received_median: float = math.nan
    detections_per_s: float = math.nan  # per camera, median
    frames_dropped: int = 0  # feed drops in the window, all cameras
    latencies_s: list[float] = field(default_factory=list)  # face appears -> AlertEvent
    unmatched_alerts: int = 0
    error: str = ""

    @property
    def cpu_per_camera(self) -> float:
        return self.cpu_pct / self.cameras if self.cameras else math.nan

    @property
    def fps_min(self) -> float:
        """The output fps the goal is judged on: StatusReport.fps_out, or the receiver's count."""
        if self.load == "pipeline":
            return self.fps_status_min
        return self.fps_received_min

    @property
    def detection_rate_ok(self) -> bool:
        """Without motion gating the detector must keep its interval (90 % of the rate asked)."""
        wanted = self.detections_wanted_per_s
        return not wanted or self.detections_per_s >= DETECTION_RATE_GOAL * wanted

    @property
    def ok(self) -> bool:
        if self.error or not self.detection_rate_ok:
            return False
        if self.load == "detector":
            return True
        return self.fps_min >= FPS_GOAL and self.fps_received_min >= FPS_GOAL

    def row(self) -> list[object]:
        lat = self.latencies_s
        return [
            self.load,
            self.detector,
            "on" if self.gating else "off",
            self.scene,
            self.cameras,
            self.processes,
            self.cpu_pct,
            self.cpu_per_camera,
            self.host_cpu_pct,
            self.encoder_cpu_pct,
            self.harness_cpu_pct,
            self.machine_busy_pct,
            self.fps_min,
            self.fps_received_min,
            self.detections_per_s,
            f"{median(lat) * 1000:.0f}" if lat else "-",
            f"{max(lat) * 1000:.0f}" if lat else "-",
            "yes" if self.ok else f"NO {self.error or self._why_not()}".strip(),
        ]

    def _why_not(self) -> str:
        if not self.detection_rate_ok:
            return f"detector behind ({self.detections_per_s:.1f}/s)"
        return "fps"

    def record(self) -> dict:
        data = {k: v for k, v in self.__dict__.items() if k != "latencies_s"}
        data["cpu_per_camera"] = self.cpu_per_camera
        data["latency_ms"] = [round(x * 1000) for x in self.latencies_s]
        data["ok"] = self.ok
        return data


HEADERS = [
    "load", "detector", "gating", "scene", "cams", "procs", "cpu%", "cpu%/cam", "host%", "ffmpeg%",
    "harness%", "machine%", "fps_out min", "fps_recv min", "det/s/cam", "alert p50 ms",
    "alert max ms", "ok (>=14 fps, detector on time)",
]  # fmt: skip


class _Lines:
    """Collects a child's JSON lines from its stdout on a thread."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.records: list[dict] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[bytes]) -> None:
        for raw in stream:
            with contextlib.suppress(ValueError):
                record = json.loads(raw)
                with self._lock:
                    self.records.append(record)

    def snapshot(self) -> list[dict]:
        with self._lock:
            return list(self.records)


class CameraBench:
    """A camera simulator with `max_cameras` streams of one scene, and the steps run on it."""

    def __init__(
        self,
        scene: Scene,
        max_cameras: int,
        model: Path,
        warmup_s: float = 6.0,
        window_s: float = 20.0,
        stagger: bool = True,
    ) -> None:
        self.scene = scene
        self.model = model
        self.warmup_s = warmup_s
        self.window_s = window_s
        self.stagger = stagger
        self.workdir = Path(tempfile.mkdtemp(prefix="skylark-bench-cameras-"))
        self.simulator = CameraSimulator({f"cam{i}": scene.path for i in range(max_cameras)})
        self.simulator_crashes = 0

    def __enter__(self) -> "CameraBench":
        self.simulator.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.simulator.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def run(
        self,
        load: LoadKind,
        cameras: int,
        detector: str = "-",
        gating: bool = False,
        interval_ms: int = 500,
        processes: int = 1,
    ) -> StepResult:
        """Start the load on `cameras` cameras, wait for steady state, measure one window, stop.
        A pipeline load runs in `processes` host processes (1: one process, like one Celery
        worker with a thread pool).

        GStreamer's RTSP server sometimes aborts as clients leave (rtsp-media.c
        gst_rtsp_media_get_rates: assertion failed), which fails the next step through no fault
        of the load: the simulator is then restarted and the step run once more."""
        for attempt in range(2):
            if not self.simulator.running:
                self.simulator_crashes += 1
                say(f"camera simulator died ({self.simulator.stderr_text()[-120:]!r}); restarting")
                self.simulator.restart()
            result = self._run_once(load, cameras, detector, gating, interval_ms, processes)
            time.sleep(0.5)  # a crash as the clients leave shows by now
            if not result.error or self.simulator.running or attempt:
                return result
        return result

    def _run_once(
        self,
        load: LoadKind,
        cameras: int,
        detector: str,
        gating: bool,
        interval_ms: int,
        processes: int,
    ) -> StepResult:
        result = StepResult(load, detector, gating, self.scene.name, cameras, processes=processes)
        if detector != "-" and not gating:
            result.detections_wanted_per_s = 1000 / interval_ms
        say(
            f"step: {load} {detector} gating={'on' if gating else 'off'} x{cameras}"
            + (f" in {processes} processes" if processes > 1 else "")
        )
        receivers: list[RtspReceiver] = []
        procs: list[subprocess.Popen] = []
        hosts: list[tuple[subprocess.Popen, _Lines]] = []
        logs: list[IO[bytes]] = []
        try:
            publishes = load in ("pipeline", "ffmpeg", "floor")
            if publishes:
                for i in range(cameras):
                    receiver = RtspReceiver(f"out{i}", workdir=self.workdir / f"recv{i}")
                    receivers.append(receiver.start())
            sources = [self.simulator.url(f"cam{i}") for i in range(cameras)]
            stagger_s = self.scene.period_s if self.stagger and load == "pipeline" else 0
            if load == "pipeline":
                # Consecutive cameras per host process, numbered across hosts.
                per_host = math.ceil(cameras / processes)
                for first in range(0, cameras, per_host):
                    args = self._host_args(detector, gating, interval_ms)
                    for i in range(first, min(first + per_host, cameras)):
                        args += ["--source", sources[i], "--publish", receivers[i].url]
                    args += ["--stagger-s", str(stagger_s), "--first-index", str(first)]
                    args += ["--total-cameras", str(cameras)]
                    hosts.append(self._start_host(args, logs))
            if load in ("ffmpeg", "floor"):
                for source, receiver in zip(sources, receivers, strict=True):
                    log = (self.workdir / f"ffmpeg-{len(procs)}.log").open("wb")
                    logs.append(log)
                    procs.append(
                        subprocess.Popen(
                            floor_ffmpeg_args(
                                source,
                                receiver.url,
                                (self.scene.truth.width, self.scene.truth.height),
                                self.scene.truth.fps,
                            ),
                            stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL,
                            stderr=log,
                            start_new_session=True,
                        )
                    )
            if load in ("detector", "floor"):
                args = self._host_args(detector, gating, interval_ms)
                args += ["--bare-detector", str(self.scene.path), "--cameras", str(cameras)]
                hosts.append(self._start_host(args, logs))

            error = self._wait_steady(load, cameras, receivers, hosts, procs, stagger_s)
            if error:
                result.error = error
                say(f"step failed: {error}")
                return result
            self._measure(result, receivers, hosts, procs)
            return result
        finally:
            for proc, _ in hosts:
                if proc.stdin is not None:
                    with contextlib.suppress(OSError):
                        proc.stdin.close()
            for proc, _ in hosts:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(20)
                stop_process(proc)
            for proc in procs:
                stop_process(proc)
            for receiver in receivers:
                receiver.close()
            for log in logs:
                log.close()

    def _host_args(self, detector: str, gating: bool, interval_ms: int) -> list[str]:
        args = [PYTHON, str(BENCH_DIR / "camera_host.py"), "--detector", detector]
        args += ["--model", str(self.model), "--interval-ms", str(interval_ms)]
        return args + (["--motion-gating"] if gating else [])

    def _start_host(
        self, args: list[str], logs: list[IO[bytes]]
    ) -> tuple[subprocess.Popen, _Lines]:
        log = (self.workdir / f"host-{len(logs)}.log").open("wb")
        logs.append(log)
        proc = subprocess.Popen(
            args,
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert proc.stdout is not None
        return proc, _Lines(proc.stdout)

    def _wait_steady(
        self,
        load: str,
        cameras: int,
        receivers: list[RtspReceiver],
        hosts: list[tuple[subprocess.Popen, _Lines]],
        procs: list[subprocess.Popen],
        stagger_s: float,
    ) -> str:
        """Wait until every camera started and publishes, plus the warm-up; '' or why not."""
        deadline = time.monotonic() + stagger_s + 40
        while True:
            dead = [p for p in procs + [h for h, _ in hosts] if p.poll() is not None]
            if dead:
                return f"a load process exited with {dead[0].returncode}"
            started = {
                r["cam"] for _, lines in hosts for r in lines.snapshot() if r["ev"] == "start"
            }
            all_started = load != "pipeline" or len(started) == cameras
            publishing = all(receiver.frame_count() > 0 for receiver in receivers)
            if all_started and publishing:
                break
            if time.monotonic() > deadline:
                have = sum(receiver.frame_count() > 0 for receiver in receivers)
                return f"only {have}/{len(receivers)} outputs up after {stagger_s + 40:.0f}s"
            time.sleep(0.25)
        time.sleep(self.warmup_s)
        return ""

    def _measure(
        self,
        result: StepResult,
        receivers: list[RtspReceiver],
        hosts: list[tuple[subprocess.Popen, _Lines]],
        procs: list[subprocess.Popen],
    ) -> None:
        load_roots = [p.pid for p in procs] + [h.pid for h, _ in hosts]
        host_pids = {h.pid for h, _ in hosts}
        meter = CpuMeter(load_roots)
        harness = CpuMeter([os.getpid()])
        counts0 = [receiver.frame_count() for receiver in receivers]
        t0_wall = time.time()
        meter.start()
        harness.start()
        time.sleep(self.window_s)
        window = meter.stop()
        whole = harness.stop()
        t1_wall = time.time()
        counts1 = [receiver.frame_count() for receiver in receivers]

        load_pids = set(window.by_pid)
        result.window_s = window.wall_s
        result.cpu_pct = window.cpu_pct
        result.machine_busy_pct = window.machine_busy_pct
        result.host_cpu_pct = (
            100 * sum(window.by_pid.get(p, 0.0) for p in host_pids) / window.wall_s
        )
        result.encoder_cpu_pct = result.cpu_pct - result.host_cpu_pct
        harness_s = sum(
            cpu for pid, cpu in whole.by_pid.items() if pid not in load_pids and pid != os.getpid()
        )
        result.harness_cpu_pct = 100 * harness_s / whole.wall_s
        if receivers:
            fps = [(c1 - c0) / window.wall_s for c0, c1 in zip(counts0, counts1, strict=True)]
            result.fps_received_min = min(fps)
            result.fps_received_median = median(fps)

        records = [r for _, lines in hosts for r in lines.snapshot()]
        in_window = [r for r in records if t0_wall <= r.get("t", 0) <= t1_wall]
        cams = range(result.cameras)
        fps_out = {
            cam: [r["fps_out"] for r in in_window if r["ev"] == "status" and r["cam"] == cam]
            for cam in cams
        }
        if result.load == "pipeline":
            medians = [median(values) if values else 0.0 for values in fps_out.values()]
            result.fps_status_min = min(medians)
            result.fps_status_median = median(medians)
            result.frames_dropped = sum(
                _dropped_at(records, cam, t1_wall) - _dropped_at(records, cam, t0_wall)
                for cam in cams
            )
        detections = [
            sum(1 for r in in_window if r["ev"] == "detect" and r["cam"] == cam) / window.wall_s
            for cam in cams
        ]
        result.detections_per_s = median(detections)
        result.latencies_s, result.unmatched_alerts = alert_latencies(
            records, self.scene.truth, t0_wall, t1_wall
        )


def _dropped_at(records: list[dict], cam: int, t: float) -> int:
    """The camera's feed drop count as last reported at or before t."""
    reports = [
        r["dropped"] for r in records if r["ev"] == "status" and r["cam"] == cam and r["t"] <= t
    ]
    return reports[-1] if reports else 0


def floor_ffmpeg_args(source: str, publish_url: str, size: tuple[int, int], fps: int) -> list[str]:
    """Decode the camera with CameraFeed's thread count and encode it as the Publisher does,
    pushing to the receiver over RTSP/TCP."""
    return [
        "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error",
        "-rtsp_transport", "tcp", "-threads", str(CODEC_THREADS), "-i", source, "-an",
        *encoder_args(*size, fps), "-f", "rtsp", "-rtsp_transport", "tcp", publish_url,
    ]  # fmt: skip


def stream_starts(records: list[dict]) -> dict[int, float]:
    """When each camera's stream began (video time 0), in unix time.

    From the feed's (analysis frames read, newest frame time) pairs: ffmpeg takes analysis frames
    at fixed steps of video time from 0, so the frame numbered k arrived no earlier than
    start + (k - 1) / analysis_fps, and the smallest last_frame_at - (k - 1) / analysis_fps over
    the first 30 s of reports is the closest estimate (the least-delayed frame). Assumes no frame
    was lost, which holds over RTSP/TCP from the local simulator.
    """
    starts: dict[int, float] = {}
    first_seen: dict[int, float] = {}
    for r in records:
        if r["ev"] != "clock" or not r.get("frames") or r["frames"] < 2:
            continue
        cam = r["cam"]
        first_seen.setdefault(cam, r["last_frame_at"])
        if r["last_frame_at"] - first_seen[cam] > 30:
            continue
        estimate = r["last_frame_at"] - (r["frames"] - 1) / r["analysis_fps"]
        starts[cam] = min(starts.get(cam, estimate), estimate)
    return starts


def alert_latencies(
    records: list[dict], truth: VideoTruth, t0: float, t1: float
) -> tuple[list[float], int]:
    """Seconds from a face appearing in the camera's video to the pipeline's AlertEvent, for
    appearances that began inside [t0, t1]; and the number of alerts matching no appearance."""
    starts = stream_starts(records)
    duration = truth.duration_s
    latencies, unmatched = [], 0
    for r in records:
        if r["ev"] != "alert" or r["cam"] not in starts:
            continue
        appeared = appearance_time(r["at"], starts[r["cam"]], truth.spans, duration)
        if appeared is None:
            unmatched += 1
        elif t0 <= appeared <= t1:
            latencies.append(r["t"] - appeared)
    return latencies, unmatched


def appearance_time(
    frame_at: float, stream_start: float, spans: list[FaceSpan], duration_s: float
) -> float | None:
    """Unix time at which the appearance that the frame read at frame_at belongs to began, for a
    looping video that started at stream_start; None if the frame is outside every span."""
    rel = frame_at - stream_start
    loop = math.floor(rel / duration_s)
    position = rel - loop * duration_s
    for span in spans:
        # A little slack either side: the stream-start estimate is good to a frame or two.
        if span.start_s - 0.5 <= position < span.end_s + 0.5:
            return stream_start + loop * duration_s + span.start_s
    return None
