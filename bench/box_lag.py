"""Box lag, annotated mode: how long after a face appears in the camera's video its box is drawn
on the published video, measured on the received stream.

One Pipeline runs in this process on a generated 720p 15 fps video whose faces come and go (the
ground truth says where each face is, frame by frame), publishing to an RtspReceiver that
records what it gets. The recording's frames are the video's frames in order (ffmpeg draws and
encodes every one; the relay starts on the first keyframe, the video's first frame), so frame i
of the recording is frame i of the video. For each appearance: the first recorded frame with the
box's green drawn around the true face, minus the frame the face appeared in. That includes the
wait for the next detection (up to an interval); the goal counts from the frame the face was
found in, so it is met a fortiori when this lag is within it.

With --rtsp the video comes from the camera simulator over RTSP, as from a camera (its
playback starts at the video's first frame when the pipeline connects).

    .venv/bin/python bench/box_lag.py [--detector haar|yunet] [--interval-ms 500] [--appearances 8]
        [--rtsp]
"""

import argparse
import sys
import threading
from contextlib import nullcontext
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2
import numpy as np

from bench.common import DEFAULT_MODEL, Figure, median, percentile, say, scratch_dir
from detection.config import PipelineConfig
from detection.pipeline import BaseSink, Pipeline
from simulator.control import CameraSimulator, RtspReceiver
from simulator.videos import FaceSpan, ensure_video, load_truth


class StopWhenSet(BaseSink):
    def __init__(self, stop: threading.Event) -> None:
        self._stop = stop

    def should_stop(self) -> bool:
        return self._stop.is_set()


PERIOD_S = 5.0  # a face for 2.5 s of every 5 s
IN_VIEW_S = 2.5


def boxed(frame: np.ndarray, face: tuple[int, int, int, int]) -> bool:
    """A line of the annotation's green (BGR 0, 255, 0) across the middle half of the face's
    width, within 24 px of its top edge: the box's top, where the detector put it."""
    x, y, w, _ = face
    band = frame[max(0, y - 24) : y + 24, x + w // 4 : x + 3 * w // 4].astype(int)
    green = (band[..., 1] > 150) & (band[..., 0] < 110) & (band[..., 2] < 110)
    return bool(green.mean(axis=1).max() > 0.5)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--detector", choices=["haar", "yunet"], default="yunet")
    parser.add_argument("--interval-ms", type=int, default=500)
    parser.add_argument("--appearances", type=int, default=8)
    parser.add_argument("--rtsp", action="store_true", help="the video from the camera simulator")
    args = parser.parse_args(argv)

    duration = args.appearances * PERIOD_S
    spans = [
        FaceSpan(1 + PERIOD_S * i, 1 + PERIOD_S * i + IN_VIEW_S) for i in range(args.appearances)
    ]
    video = ensure_video(f"box-lag-{args.appearances}", spans, duration)
    truth = load_truth(video)
    workdir = scratch_dir("skylark-bench-boxlag-")
    simulator = CameraSimulator({"cam": video}, loop=False) if args.rtsp else None
    with RtspReceiver("live/boxlag", workdir=workdir) as receiver, simulator or nullcontext():
        config = PipelineConfig(
            camera_id=0,
            name="box lag",
            source=simulator.url("cam") if simulator else str(video),
            detector=args.detector,
            model_path=str(DEFAULT_MODEL) if args.detector == "yunet" else None,
            interval_ms=args.interval_ms,
            cooldown_s=1.0,
            publish_url=receiver.url,
            loop_file=False,
        )
        say(f"playing {duration:.0f} s of video through the pipeline ({args.detector})")
        pipeline_stop = threading.Event()
        pipeline = Pipeline(config, StopWhenSet(pipeline_stop))
        runner = threading.Thread(target=pipeline.run)
        runner.start()
        if simulator:
            # A camera never ends: stop once the video has played (and a little more).
            runner.join(duration + 8)
            pipeline_stop.set()
        runner.join(duration + 60)
        receiver.stop()
        capture = cv2.VideoCapture(str(receiver.recording))
        frames = []
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            frames.append(frame)
        capture.release()

    fps = truth.fps
    lags_ms, missed = [], 0
    for span in spans:
        first = round(span.start_s * fps)
        last = min(round(span.end_s * fps), len(frames))
        shown = [
            i for i in range(first, last) if truth.boxes[i] and boxed(frames[i], truth.boxes[i][0])
        ]
        if shown:
            lags_ms.append((shown[0] - first) * 1000 / fps)
        else:
            missed += 1
    # No box where no face is, beyond the time a box stays after its face left (until the next
    # detection): this also checks that the recording's frames line up with the video's.
    grace = round(2 * args.interval_ms / 1000 * fps)
    ends = [round(span.end_s * fps) for span in spans]
    probe = truth.boxes[round(spans[0].start_s * fps) + fps][0]
    stray = sum(
        1
        for i, frame in enumerate(frames[: truth.frame_count])
        if not truth.boxes[i]
        and not any(end <= i < end + grace for end in ends)
        and boxed(frame, probe)
    )
    say(f"{len(frames)} frames recorded of {truth.frame_count}; boxes where no face was: {stray}")
    if not lags_ms:
        say("no box was seen on the received video")
        return 1
    p50, p95 = median(lags_ms), percentile(lags_ms, 95)
    goal_ms = 2 * args.interval_ms
    Figure(
        figure=f"box lag, annotated, {args.detector} every {args.interval_ms} ms"
        + (", RTSP camera" if args.rtsp else ", file"),
        goal=f"box drawn within 2 detection intervals ({goal_ms} ms) of the frame it was found in",
        measured=(
            f"face appears -> box on the received video: p50 {p50:.0f} / p95 {p95:.0f} ms over "
            f"{len(lags_ms)} appearances ({missed} without a box)"
        ),
        baseline=f"the wait for the next detection alone: up to {args.interval_ms} ms",
        ratio=f"{p95 / goal_ms:.2f}",
        command=f".venv/bin/python bench/box_lag.py --detector {args.detector}"
        + (" --rtsp" if args.rtsp else ""),
        ok=p95 <= goal_ms and missed == 0 and stray == 0,
    ).emit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
