"""Typed settings of one camera's detection pipeline, built by the Celery glue or the detect command."""

from dataclasses import dataclass, field
from typing import Literal

from .zones import Zones

Transport = Literal["tcp", "udp"]
DetectorName = Literal["haar", "yunet"]
# annotated: ffmpeg draws the boxes and re-encodes; original: the camera's stream is copied
# unchanged and the dashboard draws the boxes from the `detections` live event.
VideoMode = Literal["annotated", "original"]
# Which new faces raise an alert: everyone (as without recognition), faces nobody enrolled
# matches, or people on the watch list.
AlertOn = Literal["everyone", "unknown", "watchlist"]


class ConfigError(ValueError):
    """A pipeline setting is out of range; the message names the field."""


@dataclass(frozen=True)
class PipelineConfig:
    camera_id: int
    name: str
    # The source and publish URLs may carry credentials: kept out of repr() so they never reach logs.
    source: str = field(repr=False)
    transport: Transport = "tcp"
    video_mode: VideoMode = "annotated"
    # The camera's low-resolution sub-stream: when set, analysis decodes only it (original mode).
    detect_source: str | None = field(default=None, repr=False)
    analysis_fps: float = 5.0  # frames a second handed to motion and detection
    detector: DetectorName = "haar"
    model_path: str | None = None
    score_threshold: float = 0.7  # YuNet only; Haar boxes are not thresholded
    interval_ms: int = 1000
    scale_factor: float = 1.1
    min_neighbors: int = 6
    min_face_size: int = 40  # full-frame pixels, whatever detect_width is
    cooldown_s: float = 10.0  # a face unseen this long has left: seen again, it alerts again
    stationary_after_s: float = 600.0  # a face still this long raises nothing more (a poster)
    alert_on: AlertOn = "everyone"
    detect_width: int = 640
    motion_gating: bool = True
    zones: Zones = Zones()  # where faces count (zones) and where nothing does (masks)
    keepalive_interval_ms: int = 5000  # detection period while nothing moves but faces are in view
    idle_interval_ms: int = 30000  # while nothing moves and no face is in view (see Pipeline)
    motion_tail_s: float = 2.0
    publish_url: str | None = field(default=None, repr=False)
    preview_interval_s: float = 0.2  # while someone watches the preview
    idle_preview_interval_s: float = 2.0  # so a newly opened page has a recent picture at once
    status_interval_s: float = 1.0
    open_timeout_ms: int = 5000
    # A hung camera shows offline after this, plus up to an analysis frame interval and the
    # frames in flight in ffmpeg: within 4.5 s.
    read_timeout_ms: int = 3500
    loop_file: bool = True  # file sources restart at the end; False = stop there (--once)
    jpeg_quality: int = 80

    def __post_init__(self) -> None:
        if self.transport not in ("tcp", "udp"):
            raise ConfigError(f"transport must be 'tcp' or 'udp' (got {self.transport!r})")
        if self.video_mode not in ("annotated", "original"):
            raise ConfigError(
                f"video_mode must be 'annotated' or 'original' (got {self.video_mode!r})"
            )
        _require(0 < self.analysis_fps <= 30, "analysis_fps must be in (0, 30]", self.analysis_fps)
        if self.alert_on not in ("everyone", "unknown", "watchlist"):
            raise ConfigError(
                f"alert_on must be 'everyone', 'unknown' or 'watchlist' (got {self.alert_on!r})"
            )
        if self.detector not in ("haar", "yunet"):
            raise ConfigError(f"detector must be 'haar' or 'yunet' (got {self.detector!r})")
        if not self.source:
            raise ConfigError("source must not be empty")
        _require(self.scale_factor > 1.0, "scale_factor must be > 1", self.scale_factor)
        _require(
            0.0 < self.score_threshold <= 1.0,
            "score_threshold must be in (0, 1]",
            self.score_threshold,
        )
        _require(self.min_neighbors >= 0, "min_neighbors must be >= 0", self.min_neighbors)
        _require(self.min_face_size >= 1, "min_face_size must be >= 1", self.min_face_size)
        _require(self.detect_width >= 64, "detect_width must be >= 64", self.detect_width)
        _require(self.cooldown_s >= 0, "cooldown_s must be >= 0", self.cooldown_s)
        _require(
            self.stationary_after_s > 0, "stationary_after_s must be > 0", self.stationary_after_s
        )
        _require(1 <= self.jpeg_quality <= 100, "jpeg_quality must be in 1..100", self.jpeg_quality)
        for name in (
            "interval_ms",
            "keepalive_interval_ms",
            "idle_interval_ms",
            "open_timeout_ms",
            "read_timeout_ms",
        ):
            _require(getattr(self, name) > 0, f"{name} must be > 0", getattr(self, name))
        for name in ("preview_interval_s", "idle_preview_interval_s", "status_interval_s"):
            _require(getattr(self, name) > 0, f"{name} must be > 0", getattr(self, name))
        _require(self.motion_tail_s >= 0, "motion_tail_s must be >= 0", self.motion_tail_s)


def _require(ok: bool, message: str, value: object) -> None:
    if not ok:
        raise ConfigError(f"{message} (got {value!r})")
