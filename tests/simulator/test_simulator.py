"""The fake camera for real: generated videos, the GStreamer RTSP server, the ffmpeg receiver."""

import functools
import json
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

from detection.detectors import HaarDetector
from simulator.control import HOST, CameraSimulator, RtspReceiver
from simulator.videos import (
    FaceSpan,
    VideoTruth,
    ensure_substream,
    ensure_video,
    load_truth,
    make_video,
)

SPANS = [FaceSpan(1.0, 3.0), FaceSpan(4.0, 6.0, count=2)]
DURATION_S = 8.0
FPS = 15


@pytest.fixture(scope="module")
def video() -> Path:
    return ensure_video("simulator-test", SPANS, DURATION_S, fps=FPS)


@pytest.fixture(scope="module")
def truth(video: Path) -> VideoTruth:
    return load_truth(video)


@pytest.fixture(scope="module")
def camera(video: Path):
    with CameraSimulator({"cam": video}) as simulator:
        yield simulator


def iou(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    overlap_x = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    overlap_y = max(0, min(ay + ah, by + bh) - max(ay, by))
    inter = overlap_x * overlap_y
    return inter / (aw * ah + bw * bh - inter)


@functools.cache
def haar() -> cv2.CascadeClassifier:
    return cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")


def haar_faces(frame: np.ndarray, equalize: bool) -> list[tuple[int, ...]]:
    """Haar with the reference parameters on a 640-wide copy, boxes in frame coordinates."""
    scale = frame.shape[1] / 640
    small = cv2.resize(frame, (640, round(frame.shape[0] / scale)), interpolation=cv2.INTER_AREA)
    gray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    if equalize:
        gray = cv2.equalizeHist(gray)
    found = haar().detectMultiScale(gray, scaleFactor=1.1, minNeighbors=6, minSize=(40, 40))
    return [tuple(round(v * scale) for v in box) for box in found]


@dataclass
class Reading:
    frames: int
    seconds: float  # from opening the stream to the last frame
    shape: tuple[int, ...]
    gaps: list[float]  # seconds between consecutive frames

    @property
    def fps(self) -> float:
        return self.frames / self.seconds

    def steady_fps(self, after_s: float = 1.0) -> float:
        """Frames a second from after_s into the reading, once the burst of frames buffered
        while the stream opened has been read."""
        elapsed, later = 0.0, []
        for gap in self.gaps:
            elapsed += gap
            if elapsed > after_s:
                later.append(gap)
        return len(later) / sum(later)


def read_rtsp(url: str, transport: str, seconds: float, monkeypatch: pytest.MonkeyPatch) -> Reading:
    """Read a stream with OpenCV (as the pipeline does) for `seconds` after it opens."""
    monkeypatch.setenv("OPENCV_FFMPEG_CAPTURE_OPTIONS", f"rtsp_transport;{transport}")
    started = time.monotonic()
    capture = cv2.VideoCapture(url, cv2.CAP_FFMPEG)
    assert capture.isOpened(), f"cannot open {url} over {transport}"
    opened = time.monotonic()
    frames, shape, arrivals = 0, (), []
    try:
        while time.monotonic() - opened < seconds:
            ok, frame = capture.read()
            assert ok, f"{url} over {transport} stopped after {frames} frames"
            frames += 1
            shape = frame.shape
            arrivals.append(time.monotonic())
    finally:
        capture.release()
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:], strict=False)]
    # Frames that arrive while OpenCV probes the stream are read in a burst right after it opens,
    # so the rate counts from the moment of connecting.
    return Reading(frames, arrivals[-1] - started, shape, gaps)


def test_the_truth_matches_the_spans(truth: VideoTruth):
    assert truth.frame_count == DURATION_S * FPS and (truth.width, truth.height) == (1280, 720)
    assert truth.boxes_at(0.5) == [] and truth.boxes_at(3.0) == [] and truth.boxes_at(7.9) == []
    assert len(truth.boxes_at(1.0)) == 1 and len(truth.boxes_at(5.0)) == 2
    one, two = truth.boxes_at(5.0)
    assert iou(one, two) == 0
    assert one[2:] == two[2:] == (180, 180)  # the default face size
    with pytest.raises(ValueError):
        truth.boxes_at(DURATION_S)


def test_videos_are_cached_by_their_parameters(tmp_path: Path):
    tiny = {"width": 320, "height": 180, "fps": 5, "cache_dir": tmp_path}
    video = ensure_video("tiny", [], 1.0, **tiny)
    made_at = video.stat().st_mtime_ns
    assert ensure_video("tiny", [], 1.0, **tiny) == video
    assert video.stat().st_mtime_ns == made_at
    assert ensure_video("tiny", [], 2.0, **tiny) != video
    assert load_truth(video).frame_count == 5


@pytest.mark.parametrize(
    "spans,face_size",
    [([FaceSpan(1, 3), FaceSpan(2, 4)], 180), ([FaceSpan(0, 1, count=2)], 320)],
    ids=["overlapping spans", "faces too big for the frame"],
)
def test_impossible_videos_are_refused(spans, face_size, tmp_path: Path):
    with pytest.raises(ValueError):
        make_video(tmp_path / "x.mkv", spans=spans, duration_s=2, face_size=face_size)


def probe_frames(video: Path) -> tuple[dict, list[tuple[str, str]]]:
    """The video stream's properties, and every packet's (pts_time, flags)."""
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v", "-show_entries",
         "stream=codec_name,profile,width,height,avg_frame_rate,has_b_frames:packet=pts_time,flags",
         "-of", "json", str(video)],
        capture_output=True, check=True, text=True,
    )  # fmt: skip
    info = json.loads(probe.stdout)
    return info["streams"][0], [(p["pts_time"], p["flags"]) for p in info["packets"]]


def test_the_video_is_h264_at_15_fps_with_a_keyframe_every_second(video: Path):
    stream, packets = probe_frames(video)
    assert (stream["codec_name"], stream["width"], stream["height"]) == ("h264", 1280, 720)
    assert stream["avg_frame_rate"] == "15/1" and stream["has_b_frames"] == 0
    keyframes = [float(pts) for pts, flags in packets if "K" in flags]
    assert len(keyframes) == DURATION_S and keyframes[0] == 0


def test_haar_finds_the_faces_during_spans_and_nothing_else(video: Path, truth: VideoTruth):
    capture = cv2.VideoCapture(str(video))
    checked = 0
    for index in range(truth.frame_count):
        ok, frame = capture.read()
        assert ok
        if index % (FPS // 2):
            continue  # two frames a second are enough, and Haar is slow
        expected = truth.boxes[index]
        # Plain grayscale, and equalized as the pipeline's Haar detector does.
        for equalize in (False, True):
            found = haar_faces(frame, equalize)
            assert len(found) == len(expected), f"frame {index}: found {found}, truth {expected}"
            for box in expected:
                assert max(iou(box, face) for face in found) >= 0.5, f"frame {index}: {found}"
        checked += bool(expected)
    capture.release()
    assert checked >= 8  # frames with faces among those checked


def test_tcp_is_paced_at_15_fps_and_loops_past_the_end(camera, monkeypatch):
    reading = read_rtsp(camera.url("cam"), "tcp", DURATION_S + 2, monkeypatch)
    assert reading.shape == (720, 1280, 3)
    assert 13.5 <= reading.fps <= 16.5, f"{reading.fps:.1f} fps"
    # Past the file's end the stream goes on without a stall at the loop point.
    assert reading.seconds > DURATION_S + 1 and max(reading.gaps) < 1.0


def test_udp_delivers_720p_at_15_fps(camera, monkeypatch):
    reading = read_rtsp(camera.url("cam"), "udp", 3, monkeypatch)
    assert reading.shape == (720, 1280, 3)
    assert 13.5 <= reading.fps <= 16.5, f"{reading.fps:.1f} fps"


def test_an_unknown_path_is_404(camera):
    probe = subprocess.run(
        ["ffprobe", "-v", "error", camera.base_url + "no-such-camera"],
        capture_output=True, text=True, timeout=10,
    )  # fmt: skip
    assert probe.returncode != 0 and "404" in probe.stderr


def test_a_killed_camera_refuses_connections_until_restarted(video):
    with CameraSimulator({"cam": video}) as simulator:
        simulator.kill()
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((HOST, simulator.port), timeout=2).close()
        port = simulator.port
        simulator.restart()
        assert simulator.port == port
        probe = subprocess.run(
            ["ffprobe", "-v", "error", "-rtsp_transport", "tcp", "-show_entries",
             "stream=width,height", "-of", "csv=p=0", simulator.url("cam")],
            capture_output=True, text=True, timeout=15,
        )  # fmt: skip
        assert probe.stdout.strip() == "1280,720", probe.stderr


def push(video: Path, url: str, seconds: float, transport: str) -> None:
    subprocess.run(
        ["ffmpeg", "-v", "error", "-re", "-i", str(video), "-t", str(seconds), "-c", "copy",
         "-f", "rtsp", "-rtsp_transport", transport, url],
        check=True, timeout=seconds + 15,
    )  # fmt: skip


def test_the_receiver_records_a_push_and_listens_again_after_restart(video, tmp_path):
    with RtspReceiver("live/cam-1", workdir=tmp_path) as receiver:
        push(video, receiver.url, 2, "tcp")
        assert receiver.wait_for_frames(25, timeout_s=5) >= 25
        deadline = time.monotonic() + 5
        while receiver.running and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not receiver.running, "ffmpeg's listen mode ends with the publisher's session"
        frames = receiver.frames()
        assert 25 <= len(frames) <= 35 and {f.shape for f in frames} == {(720, 1280, 3)}

        receiver.restart()
        push(video, receiver.url, 1, "udp")
        assert receiver.wait_for_frames(10, timeout_s=5) >= 10
        assert receiver.frames(limit=3)[0].shape == (720, 1280, 3)


@pytest.fixture(scope="module")
def substream(video: Path) -> Path:
    return ensure_substream(video, width=640, height=360)


@pytest.fixture(scope="module")
def camera_with_substream(video: Path):
    with CameraSimulator({"cam": video}, substream=(640, 360)) as simulator:
        yield simulator


def test_the_substream_is_the_same_frames_at_640x360(video: Path, substream: Path, truth):
    main_stream, main_packets = probe_frames(video)
    sub_stream, sub_packets = probe_frames(substream)
    assert (sub_stream["width"], sub_stream["height"]) == (640, 360)
    same = ("codec_name", "profile", "avg_frame_rate", "has_b_frames")
    assert {key: sub_stream[key] for key in same} == {key: main_stream[key] for key in same}
    # Frame for frame: the same timestamps and the same keyframes (one a second).
    assert sub_packets == main_packets and len(sub_packets) == truth.frame_count
    assert load_truth(substream) == truth.scaled(640, 360)
    assert ensure_substream(video, width=640, height=360) == substream  # cached


def test_main_and_substream_play_side_by_side_at_the_same_rate(camera_with_substream, monkeypatch):
    urls = [camera_with_substream.url("cam"), camera_with_substream.sub_url("cam")]
    assert urls[1].endswith("/cam_sub")
    with ThreadPoolExecutor(2) as pool:
        main, sub = pool.map(lambda url: read_rtsp(url, "tcp", 5, monkeypatch), urls)
    assert main.shape == (720, 1280, 3) and sub.shape == (360, 640, 3)
    # Rates once both play: OpenCV opens one capture at a time, so the second waits ~2 s for
    # the first and its rate counted from connecting (`fps`) would be low for that reason alone.
    rates = f"main {main.steady_fps():.2f} fps, sub {sub.steady_fps():.2f} fps"
    for reading in (main, sub):
        assert 13.5 <= reading.steady_fps() <= 16.5, rates
    assert abs(main.steady_fps() - sub.steady_fps()) <= 1.0, rates
    assert max(main.gaps[-30:] + sub.gaps[-30:]) < 0.5, rates  # no stalls while side by side


def test_a_face_of_the_truth_is_in_the_substream_at_the_scaled_place(
    camera_with_substream, truth: VideoTruth, monkeypatch
):
    """Haar (the pipeline's detector, reference parameters) on frames read over RTSP."""
    monkeypatch.setenv("OPENCV_FFMPEG_CAPTURE_OPTIONS", "rtsp_transport;tcp")
    scaled = truth.scaled(640, 360)
    # Each span's middle: positions hold for the whole span, so a frame or two of slack in
    # where the reading starts does not matter. One face at 2 s, two at 5 s.
    wanted = {round(t * FPS): scaled.boxes_at(t) for t in (2.0, 5.0)}
    detector = HaarDetector()
    capture = cv2.VideoCapture(camera_with_substream.sub_url("cam"), cv2.CAP_FFMPEG)
    assert capture.isOpened()
    checked = []
    try:
        for index in range(max(wanted) + 1):
            ok, frame = capture.read()
            assert ok, f"the sub-stream stopped after {index} frames"
            if index not in wanted:
                continue
            assert frame.shape == (360, 640, 3)
            found = [box[:4] for box in detector.detect(frame)]
            expected = wanted[index]
            assert len(found) == len(expected), f"frame {index}: found {found}, truth {expected}"
            for box in expected:
                assert max(iou(box, face) for face in found) >= 0.5, f"frame {index}: {found}"
            checked.append(len(expected))
    finally:
        capture.release()
    assert checked == [1, 2]
