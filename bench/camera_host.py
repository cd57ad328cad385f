"""Runs N camera pipelines in one process, as a Celery streams worker does, and reports as JSON lines.

Each camera is the real detection.pipeline.Pipeline in its own thread (OpenCV limited to one
thread, as in the worker), with a sink that prints status, detections, alerts and a stream clock
on stdout. With --bare-detector VIDEO it runs only the face detector instead: one thread per
camera calling detect_downscaled() on that video's 720p frames at the detection interval (the
detector part of the floor). Stops when stdin closes or on SIGTERM.

    .venv/bin/python bench/camera_host.py --source rtsp://127.0.0.1:8554/cam0 \
        --publish rtsp://127.0.0.1:9000/cam0 --detector yunet --interval-ms 500
"""

import argparse
import json
import signal
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2
import numpy as np

from detection.config import PipelineConfig
from detection.detectors import Box, detect_downscaled, make_detector
from detection.pipeline import AlertEvent, BaseSink, Pipeline, StatusReport

_out_lock = threading.Lock()
_stop = threading.Event()


def emit(record: dict) -> None:
    line = json.dumps(record, separators=(",", ":"))
    with _out_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


class ReportingSink(BaseSink):
    """Prints what the pipeline reports; stops with the host."""

    def __init__(self, camera: int) -> None:
        self.camera = camera

    def on_status(self, report: StatusReport) -> None:
        emit(
            {
                "ev": "status",
                "cam": self.camera,
                "t": time.time(),
                "status": report.status,
                "fps_in": report.fps_in,
                "fps_out": report.fps_out,
                "dropped": report.frames_dropped,
                "publish": report.publish_state,
                "error": report.error or report.publish_error,
            }
        )

    def on_detections(
        self, at: float, boxes: list[Box], size: tuple[int, int], ignored: list[Box]
    ) -> None:
        emit({"ev": "detect", "cam": self.camera, "t": time.time(), "at": at, "n": len(boxes)})

    def on_alert(self, event: AlertEvent) -> None:
        emit(
            {
                "ev": "alert",
                "cam": self.camera,
                "t": time.time(),
                "at": event.at,
                "faces": event.face_count,
            }
        )

    def should_stop(self) -> bool:
        return _stop.is_set()


def run_camera(index: int, config: PipelineConfig, delay_s: float) -> None:
    if _stop.wait(delay_s):
        return
    pipeline = Pipeline(config, ReportingSink(index))
    emit({"ev": "start", "cam": index, "t": time.time()})
    clock = threading.Thread(target=report_clock, args=(index, pipeline), daemon=True)
    clock.start()
    pipeline.run()


def report_clock(index: int, pipeline: Pipeline) -> None:
    """Frames read and the newest frame's time, once a second, so the parent can tell when the
    camera started sending (video time 0). Reads the pipeline's feed, which has no public
    accessor: a benchmark-only peek."""
    while not _stop.wait(1.0):
        feed = getattr(pipeline, "_feed", None)
        if feed is not None and feed.last_frame_at is not None:
            emit(
                {
                    "ev": "clock",
                    "cam": index,
                    "frames": feed.frames_read,
                    "last_frame_at": feed.last_frame_at,
                    "analysis_fps": feed.analysis_fps,
                }
            )


def load_frames(video: Path, every_s: float) -> list[np.ndarray]:
    """The video's frames at every_s steps (what a detector sees at that interval)."""
    capture = cv2.VideoCapture(str(video))
    fps = capture.get(cv2.CAP_PROP_FPS) or 15.0
    step = max(1, round(fps * every_s))
    frames, index = [], 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        if index % step == 0:
            frames.append(frame)
        index += 1
    capture.release()
    if not frames:
        raise SystemExit(f"no frames in {video}")
    return frames


def run_bare_detector(index: int, config: PipelineConfig, frames: list[np.ndarray]) -> None:
    """The detector alone at the camera's interval, on the frames the camera would show."""
    detector = make_detector(config)
    interval = config.interval_ms / 1000
    position = index * 7 % len(frames)  # cameras out of step, like real ones
    next_due = time.monotonic() + interval * index / 16
    while not _stop.is_set():
        delay = next_due - time.monotonic()
        if delay > 0 and _stop.wait(delay):
            return
        at = time.time()
        boxes = detect_downscaled(
            detector, frames[position], config.detect_width, config.min_face_size
        )
        emit({"ev": "detect", "cam": index, "t": time.time(), "at": at, "n": len(boxes)})
        position = (position + 1) % len(frames)
        next_due = max(next_due + interval, time.monotonic())


def watch_stdin() -> None:
    """The parent closes our stdin (or dies) to stop us."""
    sys.stdin.read()
    _stop.set()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", action="append", default=[], help="camera URL (repeat)")
    parser.add_argument("--publish", action="append", default=[], help="RTSP push URL per camera")
    parser.add_argument("--cameras", type=int, help="bare-detector mode: how many detectors")
    parser.add_argument("--detector", choices=["haar", "yunet"], default="haar")
    parser.add_argument("--model", help="YuNet ONNX file")
    parser.add_argument("--interval-ms", type=int, default=500)
    parser.add_argument("--motion-gating", action="store_true", help="default: off")
    parser.add_argument("--cooldown-s", type=float, default=10.0)
    parser.add_argument("--stagger-s", type=float, default=0.0, help="spread starts over this")
    parser.add_argument(
        "--first-index", type=int, default=0, help="number of this host's first camera"
    )
    parser.add_argument(
        "--total-cameras", type=int, help="cameras over all hosts (stagger slots; default: ours)"
    )
    parser.add_argument("--bare-detector", type=Path, metavar="VIDEO")
    args = parser.parse_args(argv)

    cv2.setNumThreads(1)  # as the Celery worker does for its camera loops
    signal.signal(signal.SIGTERM, lambda *_: _stop.set())
    threading.Thread(target=watch_stdin, daemon=True).start()

    count = args.cameras if args.bare_detector else len(args.source)
    if not count:
        parser.error("give --source URLs, or --bare-detector VIDEO with --cameras N")
    if args.publish and len(args.publish) != len(args.source):
        parser.error("give one --publish URL per --source")
    configs = [
        PipelineConfig(
            camera_id=i + 1,
            name=f"bench-{i}",
            source=args.source[i] if args.source else str(args.bare_detector),
            detector=args.detector,
            model_path=args.model,
            interval_ms=args.interval_ms,
            cooldown_s=args.cooldown_s,
            motion_gating=args.motion_gating,
            publish_url=args.publish[i] if args.publish else None,
        )
        for i in range(count)
    ]
    if args.bare_detector:
        frames = load_frames(args.bare_detector, args.interval_ms / 1000)
        targets = [(run_bare_detector, (i, c, frames)) for i, c in enumerate(configs)]
    else:
        total = args.total_cameras or count
        targets = [
            (run_camera, (args.first_index + i, c, args.stagger_s * (args.first_index + i) / total))
            for i, c in enumerate(configs)
        ]
    threads = [threading.Thread(target=fn, args=a, daemon=True) for fn, a in targets]
    for thread in threads:
        thread.start()
    emit({"ev": "ready", "t": time.time(), "cameras": count})
    _stop.wait()
    for thread in threads:
        thread.join(15)
    emit({"ev": "exit", "t": time.time()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
