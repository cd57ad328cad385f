"""Wires one camera's parts: feed → motion gate → detector → tracker → boxes and outputs.

The camera's ffmpeg (detection/capture.py) decodes, draws and publishes the video on its own;
this loop sees only the analysis frames (5 a second by default). A detection thread runs the
(slow) face detector on the frame it is given, so the loop keeps taking frames meanwhile. Boxes
go back to ffmpeg (annotated mode) and to the sink (original mode: the dashboard draws them).
The outputs go to a Sink (the Celery glue saves alerts and status; the detect command prints
JSON lines); every sink call is made from the thread running run(), so a sink may use the
database. OpenCV's own thread pool is process-wide and is sized by the process that runs
pipelines (cv2.setNumThreads(1) in the detect command and in the Celery worker's process init).
"""

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

import cv2
import numpy as np

from .annotate import IGNORED_COLOR, draw_boxes, draw_overlay
from .capture import CameraFeed, Frame, VideoOutput
from .config import PipelineConfig
from .detectors import Box, FaceDetector, detect_in_region, make_detector
from .gating import MotionGate, region_of
from .logfmt import kv
from .metrics import DETECTION_SECONDS
from .publisher import Publisher
from .rates import RateMeter
from .recognition import Gallery, Identity, Recognition
from .redaction import redact_url
from .regions import Region
from .tracking import Track, Tracker

log = logging.getLogger("skylark.detection")
T = TypeVar("T")

# Seconds between should_stop() calls; the Sink contract promises at least one a second.
_STOP_CHECK_S = 0.5
_WANTS_PREVIEW_CHECK_S = 1.0
_FRAME_WAIT_S = 0.5
# Analysis frames a second at most, however short the detection interval.
_MAX_ANALYSIS_FPS = 15.0


def scale_boxes(boxes: list[Box], size: tuple[int, int], to: tuple[int, int]) -> list[Box]:
    """Boxes found on a picture of `size`, in the pixels of the same picture at `to`."""
    sx, sy = to[0] / size[0], to[1] / size[1]
    return [
        Box(round(b.x * sx), round(b.y * sy), round(b.w * sx), round(b.h * sy), b.score)
        for b in boxes
    ]


@dataclass(frozen=True)
class StatusReport:
    status: str  # connecting | online | offline | error | stopped
    error: str  # readable reason, URL redacted; "" when fine
    fps_in: float  # frames read from the camera per second
    fps_out: float  # frames published per second (analysis frames processed, if none)
    frames_dropped: int  # analysis frames overwritten before processing, and ffmpeg's drops
    last_frame_at: float | None  # unix time of the newest frame read
    reconnects: int  # connection attempts after the first
    publish_state: str  # off | starting | publishing | restarting | stopped
    publish_error: str  # last publisher error, URL redacted


@dataclass(frozen=True)
class AlertEvent:
    camera_id: int
    at: float  # unix time of the frame
    face_count: int
    boxes: list[list[float]]  # [[x, y, w, h, score], ...]: ints for x..h, score 0..1
    snapshot_jpeg: bytes  # the frame the faces were found in, annotated
    # With recognition on, each alert is one new face: who it is (None: nobody enrolled matched).
    person_id: int | None = None
    person_name: str | None = None
    similarity: float | None = None


class Sink(Protocol):
    """Where a pipeline's results go. Callbacks must return quickly; exceptions are logged."""

    def on_status(self, report: StatusReport) -> None: ...

    def on_alert(self, event: AlertEvent) -> None: ...

    def on_preview(self, jpeg: bytes) -> None: ...

    def wants_preview(self) -> bool:
        """True while someone watches the preview: it is then sent at up to 5 per second."""
        ...

    def on_detections(
        self, at: float, boxes: list[Box], size: tuple[int, int], ignored: list[Box]
    ) -> None:
        """Every finished detection: the faces in view in the frame taken at `at` that count,
        and those `ignored` (outside every zone, or inside a mask), in the pixels of a picture
        of `size` (width, height): the camera's main stream, also when the faces were found on
        its sub-stream. Alerts keep the analysed frame's pixels, their snapshot's."""
        ...

    def should_stop(self) -> bool: ...


class BaseSink:
    """A Sink that ignores everything; subclass it and override what you need."""

    def on_status(self, report: StatusReport) -> None:
        pass

    def on_alert(self, event: AlertEvent) -> None:
        pass

    def on_preview(self, jpeg: bytes) -> None:
        pass

    def wants_preview(self) -> bool:
        return False

    def on_detections(
        self, at: float, boxes: list[Box], size: tuple[int, int], ignored: list[Box]
    ) -> None:
        pass

    def should_stop(self) -> bool:
        return False


def box_to_list(box: Box) -> list[float]:
    """[x, y, w, h, score] with the score rounded for storage and JSON."""
    return [box.x, box.y, box.w, box.h, round(box.score, 3)]


@dataclass(frozen=True)
class _Job:
    frame: Frame
    region: Region | None  # where to look; None: the whole frame
    kept: list[Box]  # faces found before, outside the region: still there, nothing moved


@dataclass(frozen=True)
class _Detection:
    frame: Frame  # the frame the boxes were found in
    image: np.ndarray  # that frame in BGR, not drawn on
    boxes: list[Box]  # every face in view: found in the region, and kept from before


@dataclass
class _Unresolved:
    """A new track whose face is not recognised yet: its alert waits for a name or its last try."""

    track: Track
    first: _Detection  # where it came into view: the snapshot if it leaves before its last try
    box: Box  # its box there
    tries: int = 0


class _DetectionThread:
    """Runs detect_in_region() on one frame at a time, off the frame loop."""

    def __init__(
        self, detector: FaceDetector, detect_width: int, min_face_size: int, camera_id: int
    ) -> None:
        self._timer = DETECTION_SECONDS.labels(camera=str(camera_id))
        self._detector = detector
        self._detect_width = detect_width
        self._min_face_size = min_face_size
        self._cond = threading.Condition()
        self._job: _Job | None = None
        self._result: _Detection | None = None
        self._error: BaseException | None = None
        self._busy = False
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="face-detector", daemon=True)
        self._thread.start()

    @property
    def busy(self) -> bool:
        return self._busy

    def submit(self, job: _Job) -> None:
        """Start detecting on the job's frame (whose image the caller will not touch again)."""
        with self._cond:
            self._job = job
            self._busy = True
            self._cond.notify_all()

    def take(self, timeout: float = 0.0) -> _Detection | None:
        """The finished result, if any (waiting up to timeout); re-raises a detector failure."""
        with self._cond:
            if timeout:
                self._cond.wait_for(lambda: not self._busy or self._error is not None, timeout)
            if self._error is not None:
                raise self._error
            result, self._result = self._result, None
            return result

    def close(self) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join(5.0)

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._job is not None or self._closing)
                if self._closing:
                    return
                job, self._job = self._job, None
            assert job is not None
            frame = job.frame
            try:
                with self._timer.time():
                    image = frame.bgr()
                    found = detect_in_region(
                        self._detector,
                        image,
                        job.region,
                        self._detect_width,
                        self._min_face_size,
                    )
            except Exception as exc:
                # Surfaces in the frame loop: a broken detector must stop the camera loudly.
                with self._cond:
                    self._error = exc
                    self._busy = False
                    self._cond.notify_all()
                return
            with self._cond:
                self._result = _Detection(frame, image, job.kept + found)
                self._busy = False
                self._cond.notify_all()


class Pipeline:
    """Runs one camera until the sink says stop (or a non-looping file ends).

    Raises DetectorConfigError at construction when the detector cannot be built, before any
    thread starts.
    """

    def __init__(
        self,
        config: PipelineConfig,
        sink: Sink,
        detector: FaceDetector | None = None,
        recognition: Recognition | None = None,
    ) -> None:
        self.config = config
        self.sink = sink
        self.recognition = recognition
        self._unresolved: dict[int, _Unresolved] = {}  # by track id
        self.detector = detector if detector is not None else make_detector(config)
        self._tracker = Tracker(config.cooldown_s, config.stationary_after_s)
        self._gate = MotionGate(config)
        self._processed = RateMeter()
        self._publisher: Publisher | None = None
        self._feed: CameraFeed | None = None
        self._detection: _DetectionThread | None = None

        self._boxes: list[Box] = []  # every face in view, as last found
        self._counted: list[Box] = []  # of those, the ones the zones and masks let count
        self._ignored: list[Box] = []  # and the others
        self._detect_slot: float | None = None  # when the last detection was due
        self._last_preview_t: float | None = None
        self._wants_preview = False
        self._wants_preview_checked_t: float | None = None
        self._last_report: StatusReport | None = None
        self._last_report_t = 0.0

    def run(self) -> None:
        """Block until stopped; ends the camera's ffmpeg and the publisher on the way out."""
        config = self.config
        video = None
        if config.publish_url:
            self._publisher = Publisher(config.publish_url, camera_id=config.camera_id)
            video = VideoOutput(config.video_mode, self._publisher, config.name, config.camera_id)
        analysis_fps = min(_MAX_ANALYSIS_FPS, max(config.analysis_fps, 1000 / config.interval_ms))
        feed = CameraFeed(
            config.source,
            detect_source=config.detect_source,
            video=video,
            analysis_fps=analysis_fps,
            transport=config.transport,
            open_timeout_ms=config.open_timeout_ms,
            read_timeout_ms=config.read_timeout_ms,
            loop_file=config.loop_file,
            camera_id=config.camera_id,
        )
        self._feed = feed
        self._detection = _DetectionThread(
            self.detector, config.detect_width, config.min_face_size, config.camera_id
        )
        log.info(
            kv(
                event="pipeline_start",
                camera=config.camera_id,
                source=redact_url(config.source),
                detector=config.detector,
                video=config.video_mode,
                detect_source=redact_url(config.detect_source) if config.detect_source else "main",
                interval_ms=config.interval_ms,
                motion_gating=config.motion_gating,
                publish=redact_url(config.publish_url) if config.publish_url else "off",
            )
        )
        feed.start()
        try:
            self._loop(feed)
        finally:
            if not feed.stop():
                log.warning(kv(event="feed_stuck", camera=config.camera_id))
            self._detection.close()
            self._settle_unresolved()
            if self._publisher is not None:
                self._publisher.close()
            self._report(time.monotonic(), final=True)
            log.info(kv(event="pipeline_stop", camera=config.camera_id))

    def _loop(self, feed: CameraFeed) -> None:
        next_stop_check = 0.0
        while True:
            now = time.monotonic()
            if now >= next_stop_check:
                if self._call("should_stop", self.sink.should_stop):
                    return
                next_stop_check = now + _STOP_CHECK_S
            frame = feed.get(_FRAME_WAIT_S)
            if frame is None:
                if feed.ended:
                    # The file is over; the detection still running may hold its last alert.
                    self._collect_detection(timeout=10.0)
                    return
            else:
                self._process(frame)
            self._report(time.monotonic())

    def _process(self, frame: Frame) -> None:
        assert self._detection is not None
        self._collect_detection()
        interval = self._gate.interval(frame.gray, frame.t, self._boxes)
        slot = self._detect_slot
        if (slot is None or frame.t >= slot + interval) and not self._detection.busy:
            # Detections keep to their schedule, each due an interval after the last one was due
            # (frames come on the analysis clock: restarting from the frame's time would make
            # 2 a second at 5 frames a second 1.67); a loop a whole interval late starts again.
            if slot is not None and frame.t - slot < 2 * interval:
                self._detect_slot = slot + interval
            else:
                self._detect_slot = frame.t
            region = self._gate.search_region(frame.width, frame.height, self._boxes)
            kept = [
                box
                for box in self._boxes
                if region is not None and not region.intersects(region_of(box))
            ]
            # Frames are never written to after the feed hands them out: no copy needed.
            self._detection.submit(_Job(frame, region, kept))
        self._preview(frame)
        self._processed.tick()

    def _collect_detection(self, timeout: float = 0.0) -> None:
        """Take a finished detection: new boxes to draw, and maybe an alert."""
        assert self._detection is not None
        result = self._detection.take(timeout)
        if result is None:
            return
        frame = result.frame
        self._boxes = result.boxes
        counted, ignored = self.config.zones.split(result.boxes, frame.size)
        self._counted, self._ignored = counted, ignored
        if self.config.video_mode == "annotated" and self._feed is not None:
            self._feed.show_boxes(counted, ignored)
        size = frame.size
        published = self._feed.source_size if self._feed is not None else None
        if self.config.detect_source and published and published != size:
            # Found on the sub-stream, drawn over the main stream's picture.
            counted = scale_boxes(counted, size, published)
            ignored = scale_boxes(ignored, size, published)
            size = published
        self._call("on_detections", self.sink.on_detections, frame.at, counted, size, ignored)
        tracks = self._tracker.update(frame.t, self._counted)
        for track in tracks.stationary:
            log.info(kv(event="face_stationary", camera=self.config.camera_id, track=track.id))
        gallery = self.recognition.gallery() if self.recognition is not None else None
        if not gallery and not self._unresolved:
            # Nobody enrolled: nobody can be named, and every new face is an unknown one.
            if tracks.started and self.config.alert_on != "watchlist":
                self._alert(result, len(tracks.started))
            return
        for track in tracks.started:
            self._unresolved[track.id] = _Unresolved(track, result, track.box)
        self._recognise(result, frame.t, gallery or Gallery([]))

    def _recognise(self, result: _Detection, now: float, gallery: Gallery) -> None:
        """Describe the new tracks seen in this detection (each at most `tries` times over its
        first detections, never every frame) and alert on those that are settled: named, out of
        tries, or gone from view."""
        assert self.recognition is not None
        for track_id, pending in list(self._unresolved.items()):
            track = pending.track
            if track.last_seen != now:
                # Gone (or missed) before it was named: unknown, on the picture it came in on.
                # Waiting for its track to end would hold the alert for the cooldown and more.
                del self._unresolved[track_id]
                self._settle(pending.first, pending.box, None)
                continue
            identity = None
            if len(gallery):
                try:
                    descriptor = self.recognition.describer.describe(result.image, track.box)
                    identity = gallery.match(descriptor)
                except Exception:
                    # A face the model cannot describe stays unnamed; detection goes on.
                    log.exception(kv(event="recognition_error", camera=self.config.camera_id))
            pending.tries += 1
            if identity is not None or pending.tries >= self.recognition.tries or not len(gallery):
                del self._unresolved[track_id]
                self._settle(result, track.box, identity)

    def _settle_unresolved(self) -> None:
        """The loop ends: faces still being recognised alert as unknown (nothing is lost)."""
        for pending in self._unresolved.values():
            self._settle(pending.first, pending.box, None)
        self._unresolved.clear()

    def _settle(self, result: _Detection, face: Box, identity: Identity | None) -> None:
        """The camera's alert rule on one recognised (or unknown) new face."""
        alert_on = self.config.alert_on
        log.info(
            kv(
                event="face_recognised",
                camera=self.config.camera_id,
                person=identity.person_id if identity else None,
                similarity=identity.similarity if identity else None,
            )
        )
        if alert_on == "unknown" and identity is not None:
            return
        if alert_on == "watchlist" and (identity is None or not identity.watch):
            return
        self._alert(result, 1, identity, face)

    def _alert(
        self,
        result: _Detection,
        new_faces: int,
        identity: Identity | None = None,
        face: Box | None = None,
    ) -> None:
        """One alert for the faces that came into view in this detection (usually one); with
        recognition on, one alert per new face, `face`, whose box the snapshot labels with the
        person's name or "unknown"."""
        # The snapshot is the very frame the faces were found in, annotated like the live video.
        image = result.image.copy()
        counted, ignored = self.config.zones.split(result.boxes, result.frame.size)
        labels = {face: identity.name if identity else "unknown"} if face is not None else None
        draw_boxes(image, counted, labels=labels)
        draw_boxes(image, ignored, IGNORED_COLOR)
        draw_overlay(image, self.config.name, result.frame.at)
        event = AlertEvent(
            camera_id=self.config.camera_id,
            at=result.frame.at,
            face_count=len(counted),
            boxes=[box_to_list(box) for box in counted],
            snapshot_jpeg=self._jpeg(image),
            person_id=identity.person_id if identity else None,
            person_name=identity.name if identity else None,
            similarity=identity.similarity if identity else None,
        )
        log.info(
            kv(
                event="alert",
                camera=self.config.camera_id,
                faces=event.face_count,
                new=new_faces,
                boxes=event.boxes,
                person=event.person_id,
            )
        )
        self._call("on_alert", self.sink.on_alert, event)

    def _preview(self, frame: Frame) -> None:
        config = self.config
        checked = self._wants_preview_checked_t
        if checked is None or frame.t - checked >= _WANTS_PREVIEW_CHECK_S:
            self._wants_preview = bool(self._call("wants_preview", self.sink.wants_preview))
            self._wants_preview_checked_t = frame.t
        interval = (
            config.preview_interval_s if self._wants_preview else config.idle_preview_interval_s
        )
        if self._last_preview_t is None or frame.t - self._last_preview_t >= interval:
            self._last_preview_t = frame.t
            # The MJPEG fallback shows what the published video shows: boxes and label drawn.
            image = frame.bgr()
            draw_boxes(image, self._counted)
            draw_boxes(image, self._ignored, IGNORED_COLOR)
            draw_overlay(image, config.name, frame.at)
            self._call("on_preview", self.sink.on_preview, self._jpeg(image))

    def _jpeg(self, image: np.ndarray) -> bytes:
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.config.jpeg_quality])
        if not ok:
            raise RuntimeError(f"JPEG encoding failed for a {image.shape} frame")
        return data.tobytes()

    def _report(self, now: float, final: bool = False) -> None:
        """Send status when it changed, or once per status_interval_s."""
        feed = self._feed
        assert feed is not None
        status, error = ("stopped", "") if final else feed.state
        publisher = self._publisher
        report = StatusReport(
            status=status,
            error=error,
            fps_in=0.0 if final else round(feed.fps_in, 1),
            fps_out=0.0 if final else round(self._fps_out(), 1),
            frames_dropped=feed.frames_dropped,
            last_frame_at=feed.last_frame_at,
            reconnects=feed.reconnects,
            publish_state=publisher.state if publisher else "off",
            publish_error=publisher.last_error if publisher else "",
        )
        previous = self._last_report
        changed = previous is None or (
            (previous.status, previous.error, previous.publish_state)
            != (report.status, report.error, report.publish_state)
        )
        if not changed and now - self._last_report_t < self.config.status_interval_s:
            return
        if changed:
            log.info(
                kv(
                    event="status",
                    camera=self.config.camera_id,
                    status=report.status,
                    error=report.error,
                    publish=report.publish_state,
                    publish_error=report.publish_error,
                )
            )
        self._last_report = report
        self._last_report_t = now
        self._call("on_status", self.sink.on_status, report)

    def _fps_out(self) -> float:
        if self._publisher is not None:
            return self._publisher.fps_out
        return self._processed.rate()

    def _call(self, name: str, callback: Callable[..., T], *args: object) -> T | None:
        """Call a sink method; its exceptions are logged and the camera goes on."""
        try:
            return callback(*args)
        except Exception:
            log.exception(kv(event="sink_error", camera=self.config.camera_id, callback=name))
            return None
