"""Generate H.264 test videos of the committed astronaut photo over grass, with ground-truth boxes.

`python -m simulator.videos --out DIR --demo` writes the demo cameras' videos.
"""

import argparse
import hashlib
import json
import math
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
FACE_PHOTO = REPO_ROOT / "tests" / "assets" / "astronaut.jpg"
BACKGROUND = REPO_ROOT / "tests" / "assets" / "grass.jpg"

# In the 512x512 photo: the face as Haar finds it, and the head-and-shoulders crop around it that
# is pasted into frames (x, y, w, h). The crop's oval mask leaves the face well inside.
PHOTO_FACE = (177, 66, 95, 95)
PHOTO_BUST = (120, 5, 210, 280)

# Top rows kept free of faces: the frame counter lives there.
COUNTER_STRIP = 40
# Part of the cache key: bump it when the frames a given set of parameters produces change.
GENERATOR_VERSION = 2
# The same for ensure_substream()'s output.
SUBSTREAM_VERSION = 1

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class FaceSpan:
    """From start_s (inclusive) to end_s (exclusive), `count` faces (1 or 2) are in view."""

    start_s: float
    end_s: float
    count: int = 1

    def __post_init__(self) -> None:
        if not 0 <= self.start_s < self.end_s:
            raise ValueError(f"span needs 0 <= start_s < end_s, got {self.start_s}..{self.end_s}")
        if self.count not in (1, 2):
            raise ValueError(f"span count must be 1 or 2, got {self.count}")


@dataclass
class VideoTruth:
    """What a generated video shows: the face boxes (x, y, w, h) of every frame, by frame index."""

    fps: int
    width: int
    height: int
    spans: list[FaceSpan]
    boxes: list[list[Box]] = field(repr=False)

    @property
    def frame_count(self) -> int:
        return len(self.boxes)

    @property
    def duration_s(self) -> float:
        return self.frame_count / self.fps

    def boxes_at(self, t_s: float) -> list[Box]:
        """Boxes of the frame shown at t_s seconds from the start of the video."""
        # The epsilon keeps t = i / fps on frame i despite float rounding.
        index = math.floor(t_s * self.fps + 1e-6)
        if not 0 <= index < self.frame_count:
            raise ValueError(f"t={t_s}s is outside the video (0..{self.duration_s}s)")
        return self.boxes[index]

    def scaled(self, width: int, height: int) -> "VideoTruth":
        """The same truth for the video scaled to width x height (a sub-stream of it)."""
        sx, sy = width / self.width, height / self.height

        def scale(box: Box) -> Box:
            x, y, w, h = box
            return (round(x * sx), round(y * sy), round(w * sx), round(h * sy))

        boxes = [[scale(box) for box in frame] for frame in self.boxes]
        return VideoTruth(self.fps, width, height, list(self.spans), boxes)

    def save(self, video_path: Path) -> Path:
        path = Path(video_path).with_suffix(".json")
        data = asdict(self)
        path.write_text(json.dumps(data, separators=(",", ":")))
        return path


def load_truth(video_path: Path) -> VideoTruth:
    """The ground truth saved next to a video made by make_video()."""
    data = json.loads(Path(video_path).with_suffix(".json").read_text())
    return VideoTruth(
        fps=data["fps"],
        width=data["width"],
        height=data["height"],
        spans=[FaceSpan(**span) for span in data["spans"]],
        boxes=[[tuple(box) for box in frame] for frame in data["boxes"]],
    )


class _Bust:
    """The head-and-shoulders crop scaled for one face size, with a soft alpha mask that keeps
    the person and drops the studio backdrop."""

    def __init__(self, face_size: int, flipped: bool) -> None:
        photo = cv2.imread(str(FACE_PHOTO))
        if photo is None:
            raise FileNotFoundError(f"face photo not readable: {FACE_PHOTO}")
        bx, by, bw, bh = PHOTO_BUST
        crop = photo[by : by + bh, bx : bx + bw]
        scale = face_size / PHOTO_FACE[2]
        self.width, self.height = round(bw * scale), round(bh * scale)
        size = (self.width, self.height)
        image = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
        mask = cv2.resize(_person_mask(crop), size, interpolation=cv2.INTER_AREA)
        fx, fy, fw, fh = PHOTO_FACE
        face = (round((fx - bx) * scale), round((fy - by) * scale), face_size, face_size)
        if flipped:
            image, mask = cv2.flip(image, 1), cv2.flip(mask, 1)
            face = (self.width - face[0] - face[2], face[1], face[2], face[3])
        self.image = image.astype(np.float32)
        self.face = face
        # A feathered edge, so the paste does not add a hard outline for detectors to latch onto.
        feather = (self.width // 24) | 1
        self.alpha = cv2.GaussianBlur(mask, (feather, feather), 0)[:, :, None]

    def paste(self, frame: np.ndarray, x: int, y: int) -> Box:
        """Blend the bust in with its top-left corner at (x, y); the frame's bottom edge may cut
        off the shoulders, as a camera frame does. Returns the face box in frame coordinates."""
        region = frame[y : y + self.height, x : x + self.width]
        rows = region.shape[0]
        alpha = self.alpha[:rows]
        blended = self.image[:rows] * alpha + region * (1.0 - alpha)
        region[:] = blended.astype(np.uint8)
        fx, fy, fw, fh = self.face
        return (x + fx, y + fy, fw, fh)


def _person_mask(crop: np.ndarray) -> np.ndarray:
    """1.0 on the person in the bust crop, 0.0 elsewhere.

    The light studio backdrop against grass makes bright edges that Haar takes for faces now and
    then, so it goes: a flood fill from the top corners finds it (it surrounds the head and is
    smooth, unlike hair). The shoulders, cut by the crop's sides, fade out in an oval.
    """
    height, width = crop.shape[:2]
    fill = np.zeros((height + 2, width + 2), np.uint8)
    smooth = cv2.GaussianBlur(crop, (5, 5), 0)
    # 4-connected, neighbours within 4 levels of each other, marking 1 in `fill` only.
    flags = 4 | (1 << 8) | cv2.FLOODFILL_MASK_ONLY
    for corner in ((0, 0), (width - 1, 0)):
        cv2.floodFill(smooth, fill, corner, 0, (4, 4, 4), (4, 4, 4), flags)
    # The fill stops a pixel or two short of the hair; growing it removes that light halo.
    backdrop = cv2.dilate(fill[1:-1, 1:-1], np.ones((5, 5), np.uint8))
    oval = np.zeros((height, width), np.uint8)
    cv2.ellipse(
        oval, (width // 2, height // 2), (width // 2 - 1, height // 2 - 1), 0, 0, 360, 1, -1
    )
    return ((1 - backdrop) * oval).astype(np.float32)


def _background(width: int, height: int) -> np.ndarray:
    grass = cv2.imread(str(BACKGROUND))
    if grass is None:
        raise FileNotFoundError(f"background not readable: {BACKGROUND}")
    # Scale to cover the frame without distortion, then crop the middle.
    scale = max(width / grass.shape[1], height / grass.shape[0])
    size = (math.ceil(grass.shape[1] * scale), math.ceil(grass.shape[0] * scale))
    grass = cv2.resize(grass, size, interpolation=cv2.INTER_CUBIC)
    top, left = (grass.shape[0] - height) // 2, (grass.shape[1] - width) // 2
    grass = cv2.flip(grass[top : top + height, left : left + width], 1)
    # Haar must find nothing but the pasted faces. Mirrored, the grass has no patch it takes for
    # a face (as is, it has one at 720p), and at 70% contrast its blades next to a pasted head
    # no longer make one either (checked from 640x360 to 1920x1080, faces of 80 to 270 px).
    return cv2.addWeighted(grass, 0.7, np.full_like(grass, int(grass.mean())), 0.3, 0)


def _positions(
    span_index: int, count: int, bust: _Bust, width: int, height: int, seed: int
) -> list[tuple[int, int]]:
    """Where the bust(s) of one span go: fixed for the span, different from span to span."""
    rng = np.random.default_rng([seed, span_index])
    _, face_y, face_w, face_h = bust.face
    # The whole face and a bit of chin stay in the frame, below the counter.
    lowest = height - (face_y + face_h + face_h // 4)
    # Two people stand one in each half of the frame, a face's width apart at least: a narrow
    # strip of grass between two heads looks enough like a face to fool Haar now and then.
    lane = width // count
    inner_margin = face_w // 2 if count == 2 else 0
    slack = lane - inner_margin - bust.width
    if lowest < COUNTER_STRIP or slack < 0:
        raise ValueError(
            f"{count} face(s) of {face_h} px do not fit a {width}x{height} frame; "
            "use a smaller face_size"
        )
    spots = []
    for person in range(count):
        x = lane * person + (inner_margin if person else 0) + int(rng.integers(0, slack + 1))
        spots.append((x, int(rng.integers(COUNTER_STRIP, lowest + 1))))
    return spots


def _draw_counter(frame: np.ndarray, index: int) -> None:
    cv2.rectangle(frame, (0, 0), (260, COUNTER_STRIP), (32, 32, 32), -1)
    cv2.putText(
        frame, f"frame {index:06d}", (10, COUNTER_STRIP - 12), cv2.FONT_HERSHEY_SIMPLEX, 0.8,
        (255, 255, 255), 2, cv2.LINE_AA,
    )  # fmt: skip


def _h264_output(path: Path, fps: int) -> list[str]:
    """ffmpeg output options of every generated video (main streams and sub-streams alike)."""
    # Baseline profile has no B-frames; a keyframe every second lets an RTSP client that joins
    # at any moment start decoding within a second.
    return [
        "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "baseline", "-pix_fmt", "yuv420p",
        "-g", str(fps), "-keyint_min", str(fps), "-sc_threshold", "0", "-bf", "0", "-crf", "23",
        "-f", "matroska", str(path),
    ]  # fmt: skip


def _encoder(path: Path, width: int, height: int, fps: int) -> subprocess.Popen[bytes]:
    args = [
        "ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
        "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{width}x{height}", "-framerate", str(fps),
        "-i", "pipe:0", *_h264_output(path, fps),
    ]  # fmt: skip
    # Unbuffered stdin: frames are written whole, and closing never flushes into a dead pipe.
    return subprocess.Popen(args, stdin=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0)


def make_video(
    path: Path,
    *,
    spans: list[FaceSpan],
    duration_s: float,
    width: int = 1280,
    height: int = 720,
    fps: int = 15,
    face_size: int = 180,
    seed: int = 0,
) -> VideoTruth:
    """Write an H.264 Matroska video with faces during `spans`, and its truth as JSON beside it.

    face_size is the side of the face box in pixels (180 suits 720p); seed picks the positions.
    """
    spans = sorted(spans, key=lambda span: span.start_s)
    for earlier, later in zip(spans, spans[1:], strict=False):
        if later.start_s < earlier.end_s:
            raise ValueError(f"spans overlap: {earlier} and {later}")
    busts = [_Bust(face_size, flipped=False), _Bust(face_size, flipped=True)]
    placements = [
        _positions(i, span.count, busts[0], width, height, seed) for i, span in enumerate(spans)
    ]
    background = _background(width, height)
    frame_count = round(duration_s * fps)
    path = Path(path)
    encoder = _encoder(path, width, height, fps)
    assert encoder.stdin is not None
    boxes: list[list[Box]] = []
    try:
        for index in range(frame_count):
            t = index / fps
            # A slow exposure drift makes every frame differ a little, like a live camera.
            drift = round(4 * math.sin(2 * math.pi * t / 7))
            # OpenCV adds a scalar given as a 4-tuple; its stubs accept only arrays there.
            frame = cv2.add(background, (drift, drift, drift, 0))  # type: ignore[call-overload]
            frame_boxes = []
            for span, spots in zip(spans, placements, strict=True):
                if span.start_s <= t < span.end_s:
                    # The first person is the photo as is, a second one its mirror image.
                    people = zip(busts, spots, strict=False)
                    frame_boxes += [bust.paste(frame, *spot) for bust, spot in people]
            _draw_counter(frame, index)
            encoder.stdin.write(frame.tobytes())
            boxes.append(frame_boxes)
    except BrokenPipeError:
        pass  # ffmpeg exited early; its stderr below says why
    finally:
        encoder.stdin.close()
    errors = encoder.stderr.read().decode(errors="replace") if encoder.stderr else ""
    if encoder.wait() != 0 or len(boxes) != frame_count:
        raise RuntimeError(f"ffmpeg could not encode {path}: {errors.strip()}")
    truth = VideoTruth(fps=fps, width=width, height=height, spans=spans, boxes=boxes)
    truth.save(path)
    return truth


def video_cache_dir() -> Path:
    """Where ensure_video() keeps videos: $SKYLARK_VIDEO_CACHE, else var/videos in the repo."""
    return Path(os.environ.get("SKYLARK_VIDEO_CACHE") or REPO_ROOT / "var" / "videos")


def ensure_video(
    name: str,
    spans: list[FaceSpan],
    duration_s: float,
    *,
    cache_dir: Path | None = None,
    width: int = 1280,
    height: int = 720,
    fps: int = 15,
    face_size: int = 180,
    seed: int = 0,
) -> Path:
    """The path of a video made with these parameters, generating it only if it is not cached."""
    params = {
        "generator": GENERATOR_VERSION,
        "assets": [hashlib.sha256(p.read_bytes()).hexdigest() for p in (FACE_PHOTO, BACKGROUND)],
        "spans": [asdict(span) for span in sorted(spans, key=lambda span: span.start_s)],
        "duration_s": duration_s,
        "size": [width, height],
        "fps": fps,
        "face_size": face_size,
        "seed": seed,
    }
    key = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]
    directory = Path(cache_dir) if cache_dir is not None else video_cache_dir()
    video = directory / f"{name}-{key}.mkv"
    if video.exists() and video.with_suffix(".json").exists():
        return video
    _write_once(
        video,
        lambda partial: make_video(
            partial, spans=spans, duration_s=duration_s, width=width, height=height, fps=fps,
            face_size=face_size, seed=seed,
        ),
    )  # fmt: skip
    return video


def _write_once(video: Path, write: Callable[[Path], object]) -> None:
    """write(partial) makes the video (and maybe its truth JSON) under a private name, then both
    are renamed into place, so concurrent runs never see a half-written file; the video goes
    last because its presence is what marks a cache entry complete."""
    video.parent.mkdir(parents=True, exist_ok=True)
    partial = video.with_name(f"{video.stem}.partial-{os.getpid()}.mkv")
    try:
        write(partial)
        if partial.with_suffix(".json").exists():
            os.replace(partial.with_suffix(".json"), video.with_suffix(".json"))
        os.replace(partial, video)
    finally:
        partial.unlink(missing_ok=True)
        partial.with_suffix(".json").unlink(missing_ok=True)


def _frame_rate(video: Path) -> int:
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
         "stream=avg_frame_rate", "-of", "csv=p=0", str(video)],
        capture_output=True, check=True, text=True,
    )  # fmt: skip
    return round(Fraction(probe.stdout.strip()))


def ensure_substream(
    main: Path, width: int = 640, height: int = 360, *, cache_dir: Path | None = None
) -> Path:
    """The low-resolution sub-stream of a video, as IP cameras offer beside their main stream.

    The same frames scaled to width x height, with the same timestamps and encoder settings
    (so the same frame count and rate), generated on first use into cache_dir (default: beside
    the main video) and cached by the main video's content. When the main video has its truth
    beside it (make_video), the sub-stream gets that truth scaled to its size.
    """
    main = Path(main)
    params = {
        "version": SUBSTREAM_VERSION,
        "main": hashlib.sha256(main.read_bytes()).hexdigest(),
        "size": [width, height],
    }
    key = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:12]
    directory = Path(cache_dir) if cache_dir is not None else main.parent
    video = directory / f"{main.stem}-sub{width}x{height}-{key}.mkv"
    truth_path = main.with_suffix(".json")
    truth = load_truth(main) if truth_path.exists() else None
    if video.exists() and (truth is None or video.with_suffix(".json").exists()):
        return video
    fps = _frame_rate(main)

    def scale(partial: Path) -> None:
        args = [
            "ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i", str(main),
            "-map", "0:v:0", "-vf", f"scale={width}:{height}:flags=area,setsar=1",
            # Every input frame out once, on its own timestamp: no frame dropped or repeated.
            "-fps_mode", "passthrough", *_h264_output(partial, fps),
        ]  # fmt: skip
        done = subprocess.run(args, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"ffmpeg could not scale {main}: {done.stderr.strip()}")
        if truth is not None:
            truth.scaled(width, height).save(partial)

    _write_once(video, scale)
    return video


# The demo's cameras: A shows one face for 10 s of every 20 s; B one face, then two, then none.
DEMO_VIDEOS: dict[str, tuple[list[FaceSpan], float]] = {
    "demo-cam-a": ([FaceSpan(5 + 20 * i, 15 + 20 * i) for i in range(4)], 80.0),
    "demo-cam-b": ([FaceSpan(10, 30), FaceSpan(40, 60, count=2)], 90.0),
}


def ensure_demo_videos(out_dir: Path | None = None) -> dict[str, Path]:
    """The demo videos by name, generated into out_dir (default: the video cache) when missing."""
    return {
        name: ensure_video(name, spans, duration_s, cache_dir=out_dir)
        for name, (spans, duration_s) in DEMO_VIDEOS.items()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="directory for the videos (default: the cache)")
    parser.add_argument("--demo", action="store_true", help="write the demo cameras' videos")
    args = parser.parse_args(argv)
    if not args.demo:
        parser.error("nothing to do: pass --demo")
    for path in ensure_demo_videos(args.out).values():
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
