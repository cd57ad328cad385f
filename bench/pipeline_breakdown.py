"""Where a camera's CPU goes: each part of the pipeline's per-frame work measured alone on the same
720p frames, in % of one core at 15 fps, to explain the gap between the pipeline and its floor.

Parts: OpenCV's FFmpeg decode to BGR (what CameraFeed does), MotionDetector.update, drawing the
boxes and overlay, the full-frame copy per detection, the JPEG preview, the Publisher's
conversion to I420 and its ffmpeg encoding that from a pipe; for comparison the same encoder fed
bgr24 (the publisher before, converting inside ffmpeg), publishing at 640x360, remuxing the camera's own
H.264 without re-encoding, and plain ffmpeg decode+encode (the floor's video part), also at the
camera's 15 fps (-re) beside a design DESIGN.md does not take: one ffmpeg per camera decoding,
drawing (drawbox, drawtext) and encoding, handing the detector 2 full frames a second. CPU comes
from process CPU time (all threads) and, for ffmpeg, from wait4's rusage.
Single process, nothing in parallel; no database, no network.

    .venv/bin/python bench/pipeline_breakdown.py [--frames 150]  [--repeats 3]  (about 3 minutes)
"""

import argparse
import fcntl
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2
import numpy as np

from bench.camera_load import scene
from bench.common import Figure, encoder_args, median, print_table, say
from detection.annotate import draw_boxes, draw_overlay
from detection.capture import CODEC_THREADS
from detection.detectors import Box
from detection.motion import MotionDetector
from simulator.control import free_port

FPS = 15
NULL_OUT = ["-f", "null", "-"]


def cpu_ms_per_frame(work, frames: int) -> float:
    started = time.process_time()
    work()
    return (time.process_time() - started) * 1000 / frames


def child_cpu_ms(args: list[str], stdin_frames: list[bytes] | None, frames: int) -> float:
    """CPU of one ffmpeg run (user + system, all its threads), per frame."""
    return writer_and_child_cpu_ms(args, stdin_frames, frames)[1]


def writer_and_child_cpu_ms(
    args: list[str],
    stdin_frames: list[bytes] | None,
    frames: int,
    pipe_bytes: int = 0,
    fps: float = 0.0,
) -> tuple[float, float]:
    """(CPU of writing the frames into ffmpeg's stdin, CPU of ffmpeg), per frame. With
    pipe_bytes, the pipe is widened as the frame-pipe publisher this compares did; with fps, frames are written at
    that rate, as a camera's come (else as fast as ffmpeg takes them, the pipe always full)."""
    proc = subprocess.Popen(
        args,
        stdin=subprocess.PIPE if stdin_frames is not None else subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    started = time.process_time()
    if stdin_frames is not None:
        assert proc.stdin is not None
        if pipe_bytes:
            fcntl.fcntl(proc.stdin.fileno(), fcntl.F_SETPIPE_SZ, pipe_bytes)
        due = time.monotonic()
        for data in stdin_frames:
            if fps:
                time.sleep(max(0.0, due - time.monotonic()))
                due += 1 / fps
            proc.stdin.write(data)
        proc.stdin.close()
    writer_ms = (time.process_time() - started) * 1000 / frames
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{args[0]} exited with {proc.returncode}")
    return writer_ms, (usage.ru_utime + usage.ru_stime) * 1000 / frames


def one_ffmpeg_drawing(width: int, height: int, detector_frames: str = "") -> list[str]:
    """ffmpeg output arguments of a design the pipeline does not have (DESIGN.md reads frames
    with OpenCV): the camera's ffmpeg itself draws the boxes (drawbox, which its zmq filter
    would move) and the name and clock (drawtext) and encodes as the Publisher does; with
    detector_frames (a pixel format) it also hands the detector two undrawn full frames a
    second in that format. Measured to size what that design would save."""
    draw = (
        f"zmq=bind_address='tcp\\://127.0.0.1\\:{free_port()}',"
        "drawbox=x=500:y=200:w=180:h=180:color=lime:t=3,"
        "drawtext=font=DejaVu Sans:text='Camera 1 %{localtime}':x=10:y=10:fontsize=24:"
        "fontcolor=white:box=1:boxcolor=black@0.5"
    )
    live = [*encoder_args(width, height, FPS), *NULL_OUT]
    if not detector_frames:
        return ["-vf", draw, *live]
    graph = f"[0:v]split=2[live][det];[live]{draw}[out];[det]fps=2,format={detector_frames}[frames]"
    return [
        "-filter_complex", graph, "-map", "[out]", *live,
        "-map", "[frames]", "-f", "rawvideo", "pipe:1",
    ]  # fmt: skip


def noisy_frames(frames: list[np.ndarray]) -> list[bytes]:
    """The frames with a camera's sensor noise (a new pattern each frame), as I420."""
    rng = np.random.default_rng(1)
    out = []
    for frame in frames:
        noise = rng.normal(0.0, 6.0, frame.shape)
        noisy = np.clip(frame + noise, 0, 255).astype(np.uint8)
        out.append(cv2.cvtColor(noisy, cv2.COLOR_BGR2YUV_I420).tobytes())
    return out


def encode_to_file(args: list[str], stdin_frames: list[bytes], frames: int) -> tuple[float, float]:
    """(ffmpeg's CPU per frame in ms, the H.264's bitrate in kbit/s), frames written at FPS."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.h264"
        cpu_ms = writer_and_child_cpu_ms(
            [*args, "-f", "h264", str(out)], stdin_frames, frames, len(stdin_frames[0]), FPS
        )[1]
        kbit_s = out.stat().st_size * 8 / 1000 / (frames / FPS)
    return cpu_ms, kbit_s


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=150, help="720p frames per measurement")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each 15 fps ffmpeg variant")
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)
    video = scene("busy").path
    n = args.frames

    say("decode")

    def decode(keep: list[np.ndarray] | None = None) -> None:
        done = 0
        while done < n:
            ok, frame = capture.read()
            if not ok:
                capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
                continue
            done += 1
            if keep is not None:
                keep.append(frame)

    # FFmpeg's default: a decoding thread per core.
    capture = cv2.VideoCapture(str(video), cv2.CAP_FFMPEG)
    default_threads = int(capture.get(cv2.CAP_PROP_N_THREADS))
    decode()  # past the decoder's start, as below
    threaded_decode_ms = cpu_ms_per_frame(decode, n)
    capture.release()
    # As CameraFeed opens a camera.
    capture = cv2.VideoCapture(str(video), cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, CODEC_THREADS])
    frames: list[np.ndarray] = []
    decode(frames)  # the frames the other parts work on
    parts: dict[str, float] = {}
    parts[f"decode to BGR (OpenCV/FFmpeg, {CODEC_THREADS} thread)"] = cpu_ms_per_frame(decode, n)
    capture.release()

    say("motion, drawing, copies, JPEG")
    motion = MotionDetector()
    parts["MotionDetector.update"] = cpu_ms_per_frame(lambda: [motion.update(f) for f in frames], n)
    work = [f.copy() for f in frames]
    box = [Box(500, 200, 180, 180, 0.93)]
    parts["draw boxes + overlay"] = cpu_ms_per_frame(
        lambda: [(draw_boxes(f, box), draw_overlay(f, "Camera 1", time.time())) for f in work], n
    )
    # Per frame of video: a copy per detection (2 a second) and an idle preview every 2 s.
    copy_ms = cpu_ms_per_frame(lambda: all(f.copy() is not None for f in frames), n)
    parts["frame copy per detection (2/s)"] = copy_ms * 2 / FPS
    jpeg_ms = cpu_ms_per_frame(
        lambda: [cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, 80]) for f in frames], n
    )
    parts["JPEG preview (idle: 1 per 2 s)"] = jpeg_ms / (2 * FPS)

    say("encoders")
    height, width = frames[0].shape[:2]
    bgr = [f.tobytes() for f in frames]
    raw_in = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "rawvideo"]
    size = ["-s", f"{width}x{height}", "-framerate", str(FPS), "-i", "pipe:"]
    encoder = [*encoder_args(width, height, FPS), *NULL_OUT]
    # Paced like the yuv420p runs below, so the "before" row compares like with like.
    bgr_encode_ms = writer_and_child_cpu_ms(
        [*raw_in, "-pix_fmt", "bgr24", *size, *encoder], bgr, n, fps=FPS
    )[1]
    # Timed without keeping the results: a kept result is fresh memory, and the page faults of
    # fresh memory would be counted as the conversion's cost (the loop reuses its memory).
    parts["publisher: cv2 BGR->I420"] = cpu_ms_per_frame(
        lambda: all(cv2.cvtColor(f, cv2.COLOR_BGR2YUV_I420) is not None for f in frames), n
    )
    yuv = [cv2.cvtColor(f, cv2.COLOR_BGR2YUV_I420).tobytes() for f in frames]
    yuv_encoder = [*raw_in, "-pix_fmt", "yuv420p", *size, *encoder]
    # At the camera's pace: the pipe's size matters when ffmpeg empties it between frames.
    write_ms, encode_ms = writer_and_child_cpu_ms(yuv_encoder, yuv, n, len(yuv[0]), FPS)
    parts["publisher: write to ffmpeg's widened pipe"] = write_ms
    parts["publisher: ffmpeg, yuv420p in"] = encode_ms
    narrow_write_ms, narrow_encode_ms = writer_and_child_cpu_ms(yuv_encoder, yuv, n, fps=FPS)
    resize_ms = cpu_ms_per_frame(
        lambda: all(
            cv2.resize(f, (640, 360), interpolation=cv2.INTER_AREA) is not None for f in frames
        ),
        n,
    )
    small = [cv2.resize(f, (640, 360), interpolation=cv2.INTER_AREA).tobytes() for f in frames]
    small_size = ["-s", "640x360", "-framerate", str(FPS), "-i", "pipe:"]
    small_encode_ms = child_cpu_ms(
        [*raw_in, "-pix_fmt", "bgr24", *small_size, *encoder_args(640, 360, FPS), *NULL_OUT],
        small,
        n,
    )
    remux_ms = child_cpu_ms(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-i", str(video), "-frames:v", str(n),
         "-c", "copy", "-f", "null", "-"], None, n,
    )  # fmt: skip
    floor_ms = child_cpu_ms(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-threads", str(CODEC_THREADS),
         "-i", str(video), "-frames:v", str(n),
         *encoder], None, n,
    )  # fmt: skip
    say("the floor and one-ffmpeg drawing at the camera's pace")
    paced_in = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-t", str(n / FPS),
                "-threads", str(CODEC_THREADS), "-i", str(video)]  # fmt: skip
    paced = {
        "floor at 15 fps (-re)": encoder,
        "alternative at 15 fps: one ffmpeg decodes, draws, encodes": one_ffmpeg_drawing(
            width, height
        ),
        "same, and 2 full frames/s out as I420": one_ffmpeg_drawing(width, height, "yuv420p"),
        "same, and 2 full frames/s out as BGR": one_ffmpeg_drawing(width, height, "bgr24"),
    }
    # A lone process at 15 fps swings by 20 % from run to run here: runs by turns, medians.
    paced_runs: dict[str, list[float]] = {name: [] for name in paced}
    for _ in range(args.repeats):
        for name, output in paced.items():
            paced_runs[name].append(child_cpu_ms([*paced_in, *output], None, n))
    paced_ms = {name: median(runs) for name, runs in paced_runs.items()}
    say("a noisy scene, with and without the bitrate cap")
    noisy = noisy_frames(frames)
    noisy_in = [*raw_in, "-pix_fmt", "yuv420p", *size]
    capped = encode_to_file([*noisy_in, *encoder_args(width, height, FPS)], noisy, n)
    uncapped = encode_to_file([*noisy_in, *encoder_args(width, height, FPS, cap=False)], noisy, n)

    pct = {name: ms * FPS / 10 for name, ms in parts.items()}
    rows = [[name, parts[name], pct[name]] for name in parts]
    total_ms = sum(parts.values())
    rows.append(["pipeline total without the detector", total_ms, total_ms * FPS / 10])
    rows.append(
        [f"before: decode with FFmpeg's {default_threads} threads", threaded_decode_ms,
         threaded_decode_ms * 1.5]
    )  # fmt: skip
    rows.append(["before: publisher ffmpeg, bgr24 in", bgr_encode_ms, bgr_encode_ms * 1.5])
    narrow_ms = narrow_write_ms + narrow_encode_ms
    rows.append(
        [f"before: write {narrow_write_ms:.1f} + ffmpeg {narrow_encode_ms:.1f} through a 64 KiB"
         " pipe", narrow_ms, narrow_ms * 1.5]
    )  # fmt: skip
    rows.append(
        ["alternative: publish 640x360 (cv2.resize + encode)", resize_ms + small_encode_ms,
         (resize_ms + small_encode_ms) * 1.5]
    )  # fmt: skip
    rows.append(["alternative: no re-encode, remux the camera (-c copy)", remux_ms, remux_ms * 1.5])
    rows.append(["floor: ffmpeg decode + encode (file)", floor_ms, floor_ms * FPS / 10])
    rows += [[f"{name} (median of {args.repeats})", ms, ms * 1.5] for name, ms in paced_ms.items()]
    for label, (ms, kbit_s) in (("capped", capped), ("before: no cap", uncapped)):
        rows.append(
            [f"noisy scene, publisher ffmpeg, {label}: {kbit_s / 1000:.1f} Mbit/s", ms, ms * 1.5]
        )
    print("\nCPU per 720p frame and per camera at 15 fps (one core = 100 %)")
    print_table(["part", "ms/frame", "% of a core"], rows)
    publisher_ms = parts["publisher: cv2 BGR->I420"] + parts["publisher: ffmpeg, yuv420p in"]
    saving = bgr_encode_ms - publisher_ms
    Figure(
        figure="pipeline CPU without the detector, per camera (720p15, parts measured alone)",
        goal="explain the gap to the floor",
        measured=f"{total_ms * 1.5:.1f}% of a core",
        baseline=f"floor ffmpeg decode+encode {floor_ms * 1.5:.1f}%",
        ratio=f"{total_ms / floor_ms:.2f}",
        command=".venv/bin/python bench/pipeline_breakdown.py",
        details={
            "parts_ms_per_frame": parts,
            "yuv420p_publisher_saving_pct": saving * 1.5,
            "bgr24_publisher_ms": bgr_encode_ms,
            "pipe_saving_ms": narrow_ms - write_ms - encode_ms,
            "publish_640x360_ms": resize_ms + small_encode_ms,
            "remux_ms": remux_ms,
            "paced_ms_per_frame": paced_runs,
        },
    ).emit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
