"""Celery glue: one `run_camera` loop per running camera, and the beat task that reconciles.

The pipeline itself (detection/pipeline.py) knows nothing of Django; `CameraSink` is how its
status, alerts and previews reach the database, Redis and the dashboards. When to queue, stop or
restart a loop is decided in cameras/services.py and cameras/streams.py; the tasks call them.
"""

import contextlib
import logging
import threading
import time
from collections import deque
from datetime import UTC, datetime
from typing import Any, cast

import cv2
import redis
from celery import shared_task
from celery.signals import worker_init, worker_ready, worker_shutting_down
from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, close_old_connections
from prometheus_client import start_http_server

from alerts import realtime
from alerts.services import create_alert
from cameras import services as camera_services
from cameras import streams
from cameras.models import Camera
from cameras.naming import (
    enqueue_guard_key,
    lease_key,
    preview_key,
    stream_path,
    watchers_key,
)
from cameras.validators import source_for_capture
from config.redis import get_redis
from people import services as people_services

from .config import AlertOn, ConfigError, DetectorName, PipelineConfig, Transport, VideoMode
from .detectors import Box, DetectorConfigError
from .lease import Lease, LeaseKeeper
from .logfmt import kv
from .metrics import ALERTS_CREATED, CAMERA_RECONNECTS
from .pipeline import AlertEvent, Pipeline, StatusReport, box_to_list
from .recognition import Gallery, Recognition, RecognitionUnavailable
from .zones import Polygon, Zones

logger = logging.getLogger("skylark.detection")

LEASE_TTL_MS = 6_000  # renewed every second; a dead worker's lease lapses within 6 s
LOOP_SILENCE_S = 30.0  # a loop that shows no life for this long gives its camera up
CHECK_INTERVAL_S = 1.0  # how often the loop re-reads desired_state
PREVIEW_TTL_S = 10
PENDING_ALERTS_MAX = 1000  # alerts kept in memory while PostgreSQL is unreachable
GALLERY_CHECK_S = 5.0  # how soon a loop sees people enrolled, changed or removed


# Set when this worker is asked to stop: loops end at once instead of holding up the shutdown.
_worker_stopping = threading.Event()


@worker_shutting_down.connect
def _stop_loops(**kwargs: object) -> None:
    _worker_stopping.set()


@worker_ready.connect
def _start_heartbeat(sender: Any, **kwargs: object) -> None:
    """A worker that takes camera loops says so every second: the reconciler shares the cameras
    out among the workers alive (cameras/streams.py)."""
    if "streams" not in {queue.name for queue in sender.task_consumer.queues}:
        return
    name = sender.hostname

    def beat() -> None:
        while not _worker_stopping.wait(streams.HEARTBEAT_S):
            # Redis away: the loops hold on, and the heartbeats resume with it.
            with contextlib.suppress(redis.RedisError):
                streams.worker_alive(get_redis(), name)
        with contextlib.suppress(redis.RedisError):
            streams.worker_gone(get_redis(), name)

    streams.worker_alive(get_redis(), name)
    threading.Thread(target=beat, name="streams-heartbeat", daemon=True).start()


@worker_init.connect
def _prepare_worker(**kwargs: object) -> None:
    # Each camera loop is one thread of work; OpenCV's own pool would make N cameras fight over 2 cores.
    cv2.setNumThreads(1)
    if settings.WORKER_METRICS_PORT:
        start_http_server(settings.WORKER_METRICS_PORT)


def zones_of(regions: list[dict[str, Any]]) -> Zones:
    """The camera's regions (validated by the model) as the pipeline takes them."""

    def polygons(kind: str) -> tuple[Polygon, ...]:
        return tuple(
            tuple((float(x), float(y)) for x, y in region["points"])
            for region in regions
            if region["kind"] == kind
        )

    return Zones(zones=polygons("zone"), masks=polygons("mask"))


def pipeline_config(camera: Camera) -> PipelineConfig:
    publish_url = None
    if settings.MEDIAMTX_RTSP_URL:
        publish_url = f"{settings.MEDIAMTX_RTSP_URL.rstrip('/')}/{stream_path(camera.pk)}"
        if settings.MEDIAMTX_PUBLISH_SECRET:
            publish_url = _with_publish_credentials(publish_url)
    return PipelineConfig(
        camera_id=camera.pk,
        name=camera.name,
        source=source_for_capture(camera.url),
        # The model's choices hold these to the Literal values; PipelineConfig checks them again.
        transport=cast(Transport, camera.transport),
        video_mode=cast(VideoMode, camera.video_mode),
        detect_source=source_for_capture(camera.detect_url) if camera.detect_url else None,
        detector=cast(DetectorName, camera.detector),
        model_path=settings.FACE_DETECTOR_MODEL or None,
        interval_ms=camera.interval_ms,
        scale_factor=camera.scale_factor,
        min_neighbors=camera.min_neighbors,
        min_face_size=camera.min_face_size,
        cooldown_s=camera.cooldown_s,
        stationary_after_s=camera.stationary_after_s,
        zones=zones_of(camera.regions),
        motion_gating=camera.motion_gating,
        alert_on=cast(AlertOn, camera.alert_on),
        publish_url=publish_url,
    )


def _with_publish_credentials(url: str) -> str:
    scheme, rest = url.split("://", 1)
    return f"{scheme}://skylark-worker:{settings.MEDIAMTX_PUBLISH_SECRET}@{rest}"


class CameraSink:
    """Carries the pipeline's output into Skylark; never raises into the loop."""

    def __init__(self, camera: Camera, keeper: LeaseKeeper, redis_client: redis.Redis) -> None:
        self.camera = camera  # its name goes into alert events; a change restarts the loop
        self.camera_id = camera.pk
        self.running_with = streams.pipeline_settings(camera)
        self.video_mode = camera.video_mode
        self.keeper = keeper
        self.redis = redis_client
        self.pending: deque[AlertEvent] = deque(maxlen=PENDING_ALERTS_MAX)
        self.lock = threading.Lock()
        self.next_check = 0.0
        self.stop_reason = ""
        self.watched = False
        self.next_watch_check = 0.0
        self.gallery_now = Gallery([])
        self.gallery_version: people_services.GalleryVersion | None = None
        self.next_gallery_check = 0.0

    # -- recognition -------------------------------------------------------------------
    def gallery(self) -> Gallery:
        """The enrolled people, reloaded when they changed (checked every GALLERY_CHECK_S); while
        PostgreSQL is unreachable, the last one loaded."""
        now = time.monotonic()
        if now < self.next_gallery_check:
            return self.gallery_now
        self.next_gallery_check = now + GALLERY_CHECK_S
        try:
            version = people_services.gallery_version()
            if version != self.gallery_version:
                self.gallery_now = people_services.load_gallery()
                self.gallery_version = version
                logger.info(
                    kv(event="gallery_loaded", camera=self.camera_id, faces=len(self.gallery_now))
                )
        except DatabaseError as exc:
            logger.warning(kv(event="gallery_not_loaded", camera=self.camera_id, error=exc))
            close_old_connections()
        return self.gallery_now

    # -- status and alerts -------------------------------------------------------------
    def on_status(self, report: StatusReport) -> None:
        if self.keeper.lost:
            return  # the camera belongs to another loop now, and so does its status
        CAMERA_RECONNECTS.labels(camera=str(self.camera_id)).set(report.reconnects)
        try:
            camera_services.record_status(
                self.camera_id,
                status=report.status,
                last_error=report.error,
                fps_in=report.fps_in,
                fps_out=report.fps_out,
                frames_dropped=report.frames_dropped,
                last_frame_at=_aware(report.last_frame_at),
            )
        except DatabaseError as exc:
            logger.warning(kv(event="status_not_saved", camera=self.camera_id, error=exc))
            close_old_connections()

    def on_alert(self, event: AlertEvent) -> None:
        with self.lock:
            if len(self.pending) == self.pending.maxlen:
                logger.error(kv(event="alert_buffer_full", camera=self.camera_id, dropped_oldest=1))
            self.pending.append(event)
        self.flush_alerts()

    def flush_alerts(self) -> None:
        """Write buffered alerts in order. While PostgreSQL is unreachable they stay buffered for
        the next try; one it refuses (the camera deleted under the loop, a value it rejects) is
        dropped with the reason, so it cannot hold back the ones behind it."""
        with self.lock:
            while self.pending:
                event = self.pending[0]
                try:
                    create_alert(
                        camera=self.camera,
                        face_count=event.face_count,
                        boxes=event.boxes,
                        snapshot_jpeg=event.snapshot_jpeg,
                        created_at=_aware(event.at),
                        person_id=event.person_id,
                        similarity=event.similarity,
                    )
                except (OperationalError, InterfaceError) as exc:
                    logger.warning(
                        kv(
                            event="alert_buffered",
                            camera=self.camera_id,
                            pending=len(self.pending),
                            error=exc,
                        )
                    )
                    close_old_connections()
                    return
                except DatabaseError as exc:
                    logger.error(
                        kv(
                            event="alert_dropped",
                            camera=self.camera_id,
                            faces=event.face_count,
                            error=exc,
                        )
                    )
                else:
                    ALERTS_CREATED.labels(camera=str(self.camera_id)).inc()
                self.pending.popleft()

    def on_detections(
        self, at: float, boxes: list[Box], size: tuple[int, int], ignored: list[Box]
    ) -> None:
        """Original mode: the dashboards watching this camera draw the boxes themselves."""
        if self.video_mode != "original":
            return
        realtime.broadcast_detections(
            self.camera_id,
            at,
            size,
            [box_to_list(box) for box in boxes],
            [box_to_list(box) for box in ignored],
        )

    # -- previews ----------------------------------------------------------------------
    def wants_preview(self) -> bool:
        now = time.monotonic()
        if now >= self.next_watch_check:
            self.next_watch_check = now + 1.0
            try:
                self.watched = bool(self.redis.exists(watchers_key(self.camera_id)))
            except redis.RedisError:
                self.watched = False
        return self.watched

    def on_preview(self, jpeg: bytes) -> None:
        try:
            self.redis.set(preview_key(self.camera_id), jpeg, ex=PREVIEW_TTL_S)
        except redis.RedisError as exc:
            logger.debug(kv(event="preview_not_saved", camera=self.camera_id, error=exc))

    # -- control -----------------------------------------------------------------------
    def should_stop(self) -> bool:
        self.keeper.alive()
        now = time.monotonic()
        if now < self.next_check:
            return bool(self.stop_reason)
        self.next_check = now + CHECK_INTERVAL_S
        self.stop_reason = self._stop_reason()
        if self.pending:
            self.flush_alerts()
        return bool(self.stop_reason)

    def _stop_reason(self) -> str:
        if _worker_stopping.is_set():
            return "worker shutdown"
        if self.keeper.lost:
            return "lease lost"
        try:
            return streams.loop_stop_reason(self.camera_id, self.running_with)
        except DatabaseError:
            close_old_connections()
            return ""  # PostgreSQL down: keep detecting and buffering


def recognition_for(sink: CameraSink) -> Recognition | None:
    """Recognition for a camera's loop; None (faces stay unnamed, so every face is unknown)
    when the model cannot be loaded, which is logged."""
    try:
        describer = people_services.describer()
    except RecognitionUnavailable as exc:
        logger.error(kv(event="recognition_off", camera=sink.camera_id, error=str(exc)))
        return None
    return Recognition(describer, sink.gallery, tries=settings.RECOGNITION_TRIES)


def _aware(unix_time: float | None) -> datetime | None:
    return datetime.fromtimestamp(unix_time, tz=UTC) if unix_time is not None else None


@shared_task(ignore_result=True, acks_late=False)
def run_camera(camera_id: int) -> str:
    """Run the camera's pipeline until it is stopped, deleted or reconfigured."""
    client = get_redis()
    worker = run_camera.request.hostname or ""
    lease = Lease(client, lease_key(camera_id), ttl_ms=LEASE_TTL_MS, owner=worker)
    if not lease.acquire():
        logger.info(kv(event="loop_skipped", camera=camera_id, reason="lease_held"))
        return "lease held"
    # Queued and now running: the guard against queueing it twice has done its job, and left in
    # place it would hold back the camera's takeover should this worker die.
    client.delete(enqueue_guard_key(camera_id))
    keeper = LeaseKeeper(lease, owner_silence_s=LOOP_SILENCE_S)
    keeper.start()
    sink: CameraSink | None = None
    try:
        camera = Camera.objects.filter(pk=camera_id).first()
        if camera is None or not camera.is_running:
            return "not running"
        sink = CameraSink(camera, keeper, client)
        logger.info(kv(event="loop_start", camera=camera_id))
        try:
            pipeline = Pipeline(pipeline_config(camera), sink, recognition=recognition_for(sink))
        except (DetectorConfigError, ConfigError) as exc:
            # A setting that can never work: say so on the camera and leave it until it is edited.
            camera_services.record_status(
                camera_id, status=Camera.Status.ERROR, last_error=str(exc)
            )
            logger.error(kv(event="loop_config_error", camera=camera_id, error=str(exc)))
            sink.stop_reason = "config error"
            return sink.stop_reason
        pipeline.run()
        logger.info(kv(event="loop_end", camera=camera_id, reason=sink.stop_reason or "ended"))
        return sink.stop_reason or "ended"
    finally:
        if sink is not None:
            sink.flush_alerts()
        keeper.stop()
        lease.release()
        camera_services.loop_ended(camera_id, sink.stop_reason if sink else "")
        close_old_connections()


@shared_task(ignore_result=True)
def reconcile_streams() -> dict[str, list[int]]:
    """Every few seconds (beat): start loops that should run, mark dead loops' cameras stopped."""
    return camera_services.reconcile_streams()
