"""Wires one camera's parts: grabber → motion gate → detector → alert policy → annotate → outputs.

Threads: the grabber reads the camera; a detection thread runs the (slow) face detector on a copy
of every frame it is given, so the loop in run() keeps drawing the latest boxes on every frame
and publishing at the camera's frame rate. The outputs go to a Sink (the Celery glue saves alerts
and status; the detect command prints JSON lines); every sink call is made from the thread running
run(), so a sink may use the database. OpenCV's own thread pool is process-wide and is sized by
the process that runs pipelines (cv2.setNumThreads(1) in the detect command and in the Celery
worker's process init), not here.
"""

import functools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

import cv2
import numpy as np

from .annotate import draw_boxes, draw_overlay
from .capture import Frame, FrameGrabber
from .config import PipelineConfig
from .detectors import Box, FaceDetector, detect_in_region, make_detector
from .logfmt import kv
from .metrics import DETECTION_SECONDS
from .motion import MotionDetector
from .policy import AlertPolicy
from .publisher import Publisher
from .rates import RateMeter
from .regions import Region
from .urls import redact_url

log = logging.getLogger("skylark.detection")
T = TypeVar("T")

# Seconds between should_stop() calls; the Sink contract promises at least one a second.
_STOP_CHECK_S = 0.5
_WANTS_PREVIEW_CHECK_S = 1.0
_FRAME_WAIT_S = 0.5
# Publishing frame rate when the source declares none.
_DEFAULT_FPS = 15
# A search region larger than this share of the frame is searched as the whole frame.
_WHOLE_FRAME_SHARE = 0.5


@dataclass(frozen=True)
class StatusReport:
    status: str  # connecting | online | offline | error | stopped
    error: str  # readable reason, URL redacted; "" when fine
    fps_in: float  # frames read from the camera per second
    fps_out: float  # frames written to the publisher per second (frames processed, if none)
    frames_dropped: int  # frames read but overwritten before processing, since start
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
    snapshot_jpeg: bytes  # the annotated frame


class Sink(Protocol):
    """Where a pipeline's results go. Callbacks must return quickly; exceptions are logged."""

    def on_status(self, report: StatusReport) -> None: ...

    def on_alert(self, event: AlertEvent) -> None: ...

    def on_preview(self, jpeg: bytes) -> None: ...

    def wants_preview(self) -> bool:
        """True while someone watches the preview: it is then sent at up to 5 per second."""
        ...

    def on_detections(self, at: float, boxes: list[Box]) -> None: ...

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

    def on_detections(self, at: float, boxes: list[Box]) -> None:
        pass

    def should_stop(self) -> bool:
        return False


def _region_of(box: Box) -> Region:
    return Region(box.x, box.y, box.w, box.h)


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
    image: np.ndarray  # the full frame the boxes were found in, not yet drawn on
    at: float
    t: float
    boxes: list[Box]  # every face in view: found in the region, and kept from before


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
                    found = detect_in_region(
                        self._detector,
                        frame.image,
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
                self._result = _Detection(frame.image, frame.at, frame.t, job.kept + found)
                self._busy = False
                self._cond.notify_all()


class Pipeline:
    """Runs one camera until the sink says stop (or a non-looping file ends).

    Raises DetectorConfigError at construction when the detector cannot be built, before any
    thread starts.
    """

    def __init__(
        self, config: PipelineConfig, sink: Sink, detector: FaceDetector | None = None
    ) -> None:
        self.config = config
        self.sink = sink
        self.detector = detector if detector is not None else make_detector(config)
        self._policy = AlertPolicy(config.cooldown_s)
        self._motion = MotionDetector() if config.motion_gating else None
        self._processed = RateMeter()
        self._publisher: Publisher | None = None
        self._grabber: FrameGrabber | None = None
        self._detection: _DetectionThread | None = None

        self._boxes: list[Box] = []
        self._last_detect_t: float | None = None
        # (time, where) of every frame with motion within the last motion_tail_s; where is None
        # when the motion detector could not place it (warm-up, a new frame size).
        self._recent_motion: deque[tuple[float, Region | None]] = deque()
        self._last_preview_t: float | None = None
        self._wants_preview = False
        self._wants_preview_checked_t: float | None = None
        self._last_report: StatusReport | None = None
        self._last_report_t = 0.0

    def run(self) -> None:
        """Block until stopped; closes the grabber and publisher on the way out."""
        config = self.config
        grabber = FrameGrabber(
            config.source,
            transport=config.transport,
            open_timeout_ms=config.open_timeout_ms,
            read_timeout_ms=config.read_timeout_ms,
            loop_file=config.loop_file,
        )
        self._grabber = grabber
        self._detection = _DetectionThread(
            self.detector, config.detect_width, config.min_face_size, config.camera_id
        )
        log.info(
            kv(
                event="pipeline_start",
                camera=config.camera_id,
                source=redact_url(config.source),
                detector=config.detector,
                interval_ms=config.interval_ms,
                motion_gating=config.motion_gating,
                publish=redact_url(config.publish_url) if config.publish_url else "off",
            )
        )
        grabber.start()
        try:
            self._loop(grabber)
        finally:
            if not grabber.stop():
                log.warning(kv(event="grabber_stuck", camera=config.camera_id))
            self._detection.close()
            if self._publisher is not None:
                self._publisher.close()
            self._report(time.monotonic(), final=True)
            log.info(kv(event="pipeline_stop", camera=config.camera_id))

    def _loop(self, grabber: FrameGrabber) -> None:
        next_stop_check = 0.0
        while True:
            now = time.monotonic()
            if now >= next_stop_check:
                if self._call("should_stop", self.sink.should_stop):
                    return
                next_stop_check = now + _STOP_CHECK_S
            frame = grabber.get(_FRAME_WAIT_S)
            if frame is None:
                if grabber.ended:
                    # The file is over; the detection still running may hold its last alert.
                    self._collect_detection(timeout=10.0)
                    return
            else:
                self._process(frame)
            self._report(time.monotonic())

    def _process(self, frame: Frame) -> None:
        assert self._detection is not None
        config = self.config
        image = frame.image
        self._collect_detection()
        if self._detection_due(frame) and not self._detection.busy:
            self._last_detect_t = frame.t
            region = self._search_region(image.shape[1], image.shape[0])
            kept = [
                box
                for box in self._boxes
                if region is not None and not region.intersects(_region_of(box))
            ]
            # One full-frame copy per detection (not per frame): the detector and the alert
            # snapshot need the picture before the loop draws on it.
            copy = Frame(image.copy(), frame.at, frame.t, frame.seq)
            self._detection.submit(_Job(copy, region, kept))
        # The frame is ours (the grabber made a fresh array); drawing in place avoids a copy.
        draw_boxes(image, self._boxes)
        draw_overlay(image, config.name, frame.at)
        if config.publish_url:
            self._publish(image)
        self._preview(frame)
        self._processed.tick()

    def _collect_detection(self, timeout: float = 0.0) -> None:
        """Take a finished detection: new boxes to draw, and maybe an alert."""
        assert self._detection is not None
        result = self._detection.take(timeout)
        if result is None:
            return
        self._boxes = result.boxes
        self._call("on_detections", self.sink.on_detections, result.at, result.boxes)
        if self._policy.observe(result.t, len(result.boxes)):
            self._alert(result)

    def _detection_due(self, frame: Frame) -> bool:
        """With motion gating, as NVRs do: the configured rate while something moves (and for a
        tail after); the keepalive rate while faces stand still in view, to follow them; and when
        the view is empty and still, nothing changed where a face could appear, so only a slow
        idle check (a guard against a change too gradual for the motion detector)."""
        config = self.config
        if self._motion is None:
            interval_ms = config.interval_ms
        else:
            recent = self._recent_motion
            if self._motion.update(frame.image):
                recent.append((frame.t, self._motion.region))
            while recent and frame.t - recent[0][0] > config.motion_tail_s:
                recent.popleft()
            active = bool(recent)
            if active:
                interval_ms = config.interval_ms
            elif self._boxes:
                interval_ms = config.keepalive_interval_ms
            else:
                interval_ms = config.idle_interval_ms
        return self._last_detect_t is None or frame.t - self._last_detect_t >= interval_ms / 1000

    def _search_region(self, width: int, height: int) -> Region | None:
        """Where the next detection looks: around what moved within the motion tail (None: the
        whole frame).

        Only while the scene moves: keepalive and idle checks, and motion the detector could not
        place, search the whole frame. A face the search touches is searched whole, so a face
        that merely turned is found again rather than lost; every other face found before stays,
        since nothing moved there. A region that grew past half the frame saves little: then
        the whole frame.
        """
        moved = [where for _, where in self._recent_motion]
        if not moved or None in moved:
            return None
        search = functools.reduce(Region.union, moved)
        # A face that comes into view moves whole; the margin is for the blur of the motion mask.
        margin = 2 * self.config.min_face_size
        region = self._with_faces_touching(search.expanded(margin, width, height))
        if region.area > _WHOLE_FRAME_SHARE * width * height:
            return None
        return region

    def _with_faces_touching(self, region: Region) -> Region:
        """region grown until every face found before is wholly inside it or wholly outside."""
        faces = [_region_of(box) for box in self._boxes]
        while True:
            grown = region
            for face in faces:
                if face.intersects(grown):
                    grown = grown.union(face)
            if grown == region:
                return region
            region = grown

    def _alert(self, result: _Detection) -> None:
        # The snapshot is the very frame the faces were found in, annotated like the live video.
        draw_boxes(result.image, result.boxes)
        draw_overlay(result.image, self.config.name, result.at)
        event = AlertEvent(
            camera_id=self.config.camera_id,
            at=result.at,
            face_count=len(result.boxes),
            boxes=[box_to_list(box) for box in result.boxes],
            snapshot_jpeg=self._jpeg(result.image),
        )
        log.info(
            kv(
                event="alert",
                camera=self.config.camera_id,
                faces=event.face_count,
                boxes=event.boxes,
            )
        )
        self._call("on_alert", self.sink.on_alert, event)

    def _publish(self, image: np.ndarray) -> None:
        if self._publisher is None:
            assert self.config.publish_url is not None and self._grabber is not None
            height, width = image.shape[:2]
            fps = round(self._grabber.source_fps or _DEFAULT_FPS)
            self._publisher = Publisher(
                self.config.publish_url, width, height, fps, camera_id=self.config.camera_id
            )
        self._publisher.push(image)

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
            self._call("on_preview", self.sink.on_preview, self._jpeg(frame.image))

    def _jpeg(self, image: np.ndarray) -> bytes:
        ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.config.jpeg_quality])
        if not ok:
            raise RuntimeError(f"JPEG encoding failed for a {image.shape} frame")
        return data.tobytes()

    def _report(self, now: float, final: bool = False) -> None:
        """Send status when it changed, or once per status_interval_s."""
        grabber = self._grabber
        assert grabber is not None
        status, error = ("stopped", "") if final else grabber.state
        publisher = self._publisher
        report = StatusReport(
            status=status,
            error=error,
            fps_in=0.0 if final else round(grabber.fps_in, 1),
            fps_out=0.0 if final else round(self._fps_out(), 1),
            frames_dropped=grabber.frames_dropped,
            last_frame_at=grabber.last_frame_at,
            reconnects=grabber.reconnects,
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
