"""manage.py detect: run the detection pipeline on a file or camera URL and print JSON lines.

No database writes: for trying a camera, tuning detector settings and benchmarks. With
--recognize it reads the enrolled people once, at the start, and names the faces in alert lines.
"""

from pathlib import Path

import cv2
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from detection.capture import NETWORK_SCHEMES
from detection.config import (
    AlertOn,
    ConfigError,
    DetectorName,
    PipelineConfig,
    Transport,
    VideoMode,
)
from detection.detectors import DetectorConfigError
from detection.jsonlines import JsonLinesSink
from detection.pipeline import Pipeline
from detection.recognition import Recognition, RecognitionUnavailable
from people import services as people_services


class Command(BaseCommand):
    help = (
        "Run face detection on a video file or camera URL and print JSON lines "
        "(detections, alerts, status) to stdout. Writes nothing to the database."
    )
    # Nothing here needs the models or the database, so don't check them.
    requires_system_checks: list[str] = []
    requires_migrations_checks = False

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--source", required=True, help="rtsp/http(s) URL or video file path")
        parser.add_argument("--detector", choices=["haar", "yunet"], default="haar")
        parser.add_argument("--model", help="YuNet ONNX file (default: FACE_DETECTOR_MODEL)")
        parser.add_argument("--interval-ms", type=int, default=1000)
        parser.add_argument("--cooldown", type=float, default=10.0, help="alert cooldown, s")
        parser.add_argument("--scale-factor", type=float, default=1.1)
        parser.add_argument("--min-neighbors", type=int, default=6)
        parser.add_argument("--min-face-size", type=int, default=40, help="full-frame pixels")
        parser.add_argument("--detect-width", type=int, default=640)
        parser.add_argument("--transport", choices=["tcp", "udp"], default="tcp")
        parser.add_argument("--no-motion-gating", action="store_true")
        parser.add_argument("--publish-url", help="RTSP URL to publish the video to")
        parser.add_argument(
            "--video-mode",
            choices=["annotated", "original"],
            default="annotated",
            help="annotated: boxes drawn into the published video; original: the camera's stream "
            "copied unchanged",
        )
        parser.add_argument(
            "--detect-url", help="original mode: the camera's low-resolution stream to analyse"
        )
        parser.add_argument("--duration", type=float, help="stop after this many seconds")
        parser.add_argument(
            "--once", action="store_true", help="file source: stop at its end instead of looping"
        )
        parser.add_argument("--snapshot-dir", type=Path, help="save alert snapshots here")
        parser.add_argument("--name", default="detect", help="camera name drawn on the video")
        parser.add_argument(
            "--recognize",
            action="store_true",
            help="name faces against the people enrolled in the database (read only)",
        )
        parser.add_argument(
            "--alert-on", choices=["everyone", "unknown", "watchlist"], default="everyone"
        )

    def handle(
        self,
        *args: object,
        source: str,
        detector: DetectorName,  # argparse choices hold these to the Literal values
        model: str | None,
        interval_ms: int,
        cooldown: float,
        scale_factor: float,
        min_neighbors: int,
        min_face_size: int,
        detect_width: int,
        transport: Transport,
        no_motion_gating: bool,
        publish_url: str | None,
        video_mode: VideoMode,
        detect_url: str | None,
        duration: float | None,
        once: bool,
        snapshot_dir: Path | None,
        name: str,
        recognize: bool,
        alert_on: AlertOn,
        **options: object,
    ) -> None:
        if once and source.split("://", 1)[0].lower() in NETWORK_SCHEMES:
            raise CommandError("--once applies to a file source only")
        if snapshot_dir is not None:
            snapshot_dir.mkdir(parents=True, exist_ok=True)
        # OpenCV's thread pool is process-wide; one thread per pipeline, as in the workers.
        cv2.setNumThreads(1)
        try:
            config = PipelineConfig(
                camera_id=0,
                name=name,
                source=source,
                transport=transport,
                detector=detector,
                model_path=model or getattr(settings, "FACE_DETECTOR_MODEL", "") or None,
                interval_ms=interval_ms,
                cooldown_s=cooldown,
                scale_factor=scale_factor,
                min_neighbors=min_neighbors,
                min_face_size=min_face_size,
                detect_width=detect_width,
                motion_gating=not no_motion_gating,
                publish_url=publish_url,
                video_mode=video_mode,
                detect_source=detect_url,
                loop_file=not once,
                alert_on=alert_on,
            )
            sink = JsonLinesSink(
                self.stdout, duration_s=duration, snapshot_dir=snapshot_dir, recognize=recognize
            )
            recognition = None
            if recognize:
                gallery = people_services.load_gallery()
                recognition = Recognition(
                    people_services.describer(),
                    lambda: gallery,
                    tries=settings.RECOGNITION_TRIES,
                )
            pipeline = Pipeline(config, sink, recognition=recognition)
        except (ConfigError, DetectorConfigError, RecognitionUnavailable) as exc:
            raise CommandError(str(exc)) from exc
        pipeline.run()
