"""The Camera: where its video comes from, what operators want, what its loop reports; and the
camera groups (sites) that decide who sees it."""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from .naming import stream_path
from .validators import MAX_URL_LENGTH, validate_camera_url, validate_regions


class Camera(models.Model):
    class DesiredState(models.TextChoices):
        RUNNING = "running", "Running"
        STOPPED = "stopped", "Stopped"

    class Status(models.TextChoices):
        STOPPED = "stopped", "Stopped"
        CONNECTING = "connecting", "Connecting"
        ONLINE = "online", "Online"
        OFFLINE = "offline", "Offline"
        ERROR = "error", "Error"

    class Detector(models.TextChoices):
        HAAR = "haar", "Haar cascade"
        YUNET = "yunet", "YuNet (ONNX)"

    class Transport(models.TextChoices):
        TCP = "tcp", "RTSP over TCP"
        UDP = "udp", "RTSP over UDP"

    class VideoMode(models.TextChoices):
        ANNOTATED = "annotated", "Annotated: boxes drawn into the video (re-encoded)"
        ORIGINAL = "original", "Original: the camera's own stream, boxes drawn by the browser"

    name = models.CharField(max_length=100, unique=True)
    url = models.CharField(
        "URL",
        max_length=MAX_URL_LENGTH,
        validators=[validate_camera_url],
        help_text="rtsp://user:password@host:554/stream (http(s) and local demo files also work).",
    )
    location = models.CharField(max_length=200, blank=True)
    transport = models.CharField(max_length=3, choices=Transport.choices, default=Transport.TCP)
    video_mode = models.CharField(
        max_length=10, choices=VideoMode.choices, default=VideoMode.ANNOTATED
    )
    detect_url = models.CharField(
        "detection sub-stream URL",
        max_length=MAX_URL_LENGTH,
        blank=True,
        validators=[validate_camera_url],
        help_text=(
            "Original mode: the camera's low-resolution sub-stream, which detection "
            "decodes instead of the main stream (e.g. rtsp://user:password@host:554/sub)."
        ),
    )

    desired_state = models.CharField(
        max_length=10, choices=DesiredState.choices, default=DesiredState.STOPPED
    )
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.STOPPED)
    last_error = models.CharField(max_length=500, blank=True)
    last_frame_at = models.DateTimeField(null=True, blank=True)
    fps_in = models.FloatField(default=0)
    fps_out = models.FloatField(default=0)
    frames_dropped = models.BigIntegerField(default=0)

    detector = models.CharField(max_length=10, choices=Detector.choices, default=Detector.HAAR)
    interval_ms = models.PositiveIntegerField(
        "detection interval (ms)",
        default=1000,
        validators=[MinValueValidator(100), MaxValueValidator(60_000)],
    )
    scale_factor = models.FloatField(
        default=1.1, validators=[MinValueValidator(1.01), MaxValueValidator(2.0)]
    )
    min_neighbors = models.PositiveSmallIntegerField(
        default=6, validators=[MinValueValidator(1), MaxValueValidator(50)]
    )
    min_face_size = models.PositiveIntegerField(
        "minimum face size (px)",
        default=40,
        validators=[MinValueValidator(10), MaxValueValidator(2000)],
    )
    cooldown_s = models.FloatField(
        "alert cooldown (s)",
        default=10,
        validators=[MinValueValidator(0), MaxValueValidator(3600)],
        help_text="A face out of view this long has left: when it is seen again, it alerts again.",
    )
    stationary_after_s = models.FloatField(
        "stationary after (s)",
        default=600,
        validators=[MinValueValidator(10), MaxValueValidator(86_400)],
        help_text="A face that has not moved for this long raises no more alerts (a poster, "
        "someone asleep at a desk).",
    )
    regions = models.JSONField(
        "zones and masks",
        default=list,
        blank=True,
        validators=[validate_regions],
        help_text='Polygons in fractions of the frame: [{"kind": "zone" or "mask", "points": '
        "[[x, y], ...]}]. With zones, only faces inside one alert; inside a mask, faces and "
        "motion are ignored.",
    )
    motion_gating = models.BooleanField(
        default=True, help_text="Run the face detector at full rate only while there is motion."
    )

    class AlertOn(models.TextChoices):
        EVERYONE = "everyone", "every new face"
        UNKNOWN = "unknown", "unknown faces only"
        WATCHLIST = "watchlist", "people on the watch list only"

    alert_on = models.CharField(
        "alert on",
        max_length=10,
        choices=AlertOn.choices,
        default=AlertOn.EVERYONE,
        help_text="Which new faces raise an alert; recognition names them against the enrolled "
        "people.",
    )

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def stream_path(self) -> str:
        return stream_path(self.pk)

    @property
    def is_running(self) -> bool:
        return self.desired_state == self.DesiredState.RUNNING


# The field groups, named once: the API serializer, the dashboard form and the admin use these.
# where the video comes from, and how the dashboard gets it
SOURCE_FIELDS = ("name", "url", "location", "transport", "video_mode", "detect_url")
DETECTION_FIELDS = (  # how its loop looks for faces and when it alerts
    "detector",
    "interval_ms",
    "scale_factor",
    "min_neighbors",
    "min_face_size",
    "cooldown_s",
    "stationary_after_s",
    "motion_gating",
    "alert_on",
)
# where on the picture faces count: edited on the camera page's polygon editor, the API, the admin
REGION_FIELDS = ("regions",)
# URLs that may carry the camera's password: viewers see them only through redact_url.
CREDENTIAL_FIELDS = ("url", "detect_url")
EDITABLE_FIELDS = SOURCE_FIELDS + DETECTION_FIELDS + REGION_FIELDS  # what operators edit
REPORTED_FIELDS = ("status", "last_error", "last_frame_at", "fps_in", "fps_out", "frames_dropped")
# Nobody edits these directly: desired_state changes through start/stop, the rest is reported.
READ_ONLY_FIELDS = ("desired_state", *REPORTED_FIELDS, "created_at", "updated_at")

# What a camera's loop runs with (detection/tasks.py pipeline_config, and the name its alerts
# carry). A running loop restarts when one of these changes and only then: editing `location`
# leaves it alone. A new setting the pipeline reads belongs here too.
PIPELINE_FIELDS = (
    "name",
    "url",
    "transport",
    "video_mode",
    "detect_url",
    *DETECTION_FIELDS,
    *REGION_FIELDS,
)


class CameraGroup(models.Model):
    """A site: its cameras are seen by its members. Accounts with `all_cameras` (the default
    for operators and for accounts made before groups existed) see every camera anyway."""

    name = models.CharField(max_length=100, unique=True)
    cameras = models.ManyToManyField(Camera, blank=True, related_name="groups")
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="camera_groups"
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
