"""The live feed: alerts and camera status over one WebSocket, with resume after a reconnect.

Client → server: {"type": "subscribe", "cameras": [ids] | null}, {"type": "resume", "after_id": N},
{"type": "watch", "cameras": [ids]}, {"type": "ping"}. Server → client: {"type": "alert", ...},
{"type": "camera.status", ...}, {"type": "detections", "camera", "at", "size", "boxes"} (watched
original-mode cameras only), {"type": "subscribed", ...}, {"type": "watching", "cameras": [ids]},
{"type": "resume.done", ...}, {"type": "resync", ...}, {"type": "error", "error": "..."},
{"type": "pong"}, and {"type": "batch", "events": [...]}: live events that were waiting together,
in order, in one frame (alerts/realtime.py). Live events leave at most once per FRAME_GAP_S per
socket, so under load they wait and leave in batches.
"""

import asyncio
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, cast

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from prometheus_client import Gauge

from cameras.selectors import cameras_for_user, sees_every_camera
from detection.logfmt import kv

from .realtime import ALL_CAMERAS_GROUP, batch_text, camera_group, detections_group
from .selectors import alerts_after
from .serializers import AlertSerializer

if TYPE_CHECKING:
    from accounts.models import User

logger = logging.getLogger("skylark.realtime")

REPLAY_LIMIT = 500  # more missed alerts than this: the client is told to reload (resync)
MAX_MESSAGE_BYTES = 16 * 1024
MAX_SUBSCRIBED_CAMERAS = 200
MAX_WATCHED_CAMERAS = 64  # a page watches the original-mode cameras in view
SENT_IDS_REMEMBERED = 5000
CLOSE_TOKEN_EXPIRED = 4401
CLOSE_MESSAGE_TOO_BIG = 4009  # daphne lets applications close only with 1000 or 3000-4999
CLOSE_FEED_INTERRUPTED = 4012  # live events may have been lost: reconnect and resume
# Live events go out at most once per this many seconds per socket; what comes meanwhile waits
# and leaves with the next frame, as one batch (AlertConsumer._emit).
FRAME_GAP_S = 0.025
# A batch frame holds events up to this size; more go in the next frame. daphne refuses to send
# a WebSocket message over 1 MiB (its --websocket_max_message_size) and fails the connection.
MAX_FRAME_BYTES = 512 * 1024

WEBSOCKET_CONNECTIONS = Gauge(
    "skylark_websocket_connections", "Open dashboard/API WebSocket connections"
)


class AlertConsumer(AsyncJsonWebsocketConsumer):
    """One dashboard's or API client's socket."""

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close()  # before accept: the handshake is refused with HTTP 403
            return
        self.user = cast("User", user)  # a lazy proxy of it, authenticated: checked above
        self.subscribed_groups: set[str] = set()
        self.watched_groups: set[str] = set()
        self.sent_ids: OrderedDict[int, None] = OrderedDict()
        self.camera_filter: set[int] | None = None
        self.waiting: list[str] = []  # live events held back by the frame gap
        self.last_frame_at = -FRAME_GAP_S
        self.frame_due: asyncio.Task[None] | None = None
        self.expiry_task: asyncio.Task[None] | None = None
        await self.accept()
        await self._subscribe_to_all()
        WEBSOCKET_CONNECTIONS.inc()
        self.live = True
        expires_at = self.scope.get("token_expires_at")  # a float, from alerts/ws_auth.py
        if isinstance(expires_at, float):
            self.expiry_task = asyncio.create_task(self._close_at(expires_at))

    async def disconnect(self, code: int) -> None:
        if not getattr(self, "live", False):  # refused, or never got its groups
            return
        WEBSOCKET_CONNECTIONS.dec()
        for task in (self.frame_due, self.expiry_task):
            if task is not None:
                task.cancel()
        for group in self.subscribed_groups | self.watched_groups:
            await self._safely(self.channel_layer.group_discard(group, self.channel_name))

    async def dispatch(self, message: dict) -> None:
        """Call the message's handler, without Channels' close_old_connections() before each.

        Channels runs that through a worker thread for every message, which cost 35 % of
        daphne's CPU with 1000 dashboards (docs/benchmarks.md). This consumer's handlers touch
        the database only through database_sync_to_async, which closes stale connections
        itself, before and after its query.
        """
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def _close_at(self, expires_at: float) -> None:
        await asyncio.sleep(max(0.0, expires_at - time.time()))
        await self.send_json({"type": "error", "error": "token expired"})
        await self.close(code=CLOSE_TOKEN_EXPIRED)

    # -- client messages ---------------------------------------------------------------
    async def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any
    ) -> None:
        raw = text_data if text_data is not None else bytes_data or b""
        if len(raw) > MAX_MESSAGE_BYTES:
            await self.send_json(
                {"type": "error", "error": f"message larger than {MAX_MESSAGE_BYTES} bytes"}
            )
            await self.close(code=CLOSE_MESSAGE_TOO_BIG)
            return
        try:
            message = json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError):
            await self.send_json({"type": "error", "error": "message is not valid JSON"})
            return
        if not isinstance(message, dict):
            await self.send_json({"type": "error", "error": "message must be a JSON object"})
            return
        await self.receive_json(message)

    async def receive_json(self, content: dict, **kwargs) -> None:
        kind = content.get("type")
        if kind == "subscribe":
            await self._subscribe(content.get("cameras"))
        elif kind == "resume":
            await self._resume(content.get("after_id"))
        elif kind == "watch":
            await self._watch(content.get("cameras"))
        elif kind == "ping":
            await self.send_json({"type": "pong"})
        else:
            await self.send_json(
                {"type": "error", "error": f"unknown message type {str(kind)[:40]!r}"}
            )

    async def _subscribe(self, cameras: object) -> None:
        if cameras is None:
            await self._subscribe_to_all()
            await self.send_json({"type": "subscribed", "cameras": None})
            return
        if (
            not isinstance(cameras, list)
            or len(cameras) > MAX_SUBSCRIBED_CAMERAS
            or not all(isinstance(c, int) and not isinstance(c, bool) for c in cameras)
        ):
            await self.send_json(
                {
                    "type": "error",
                    "error": f"cameras must be a list of at most {MAX_SUBSCRIBED_CAMERAS} camera ids, or null",
                }
            )
            return
        visible = await self._visible_cameras(set(cameras))
        unknown = sorted(set(cameras) - visible)
        if unknown:
            await self.send_json({"type": "error", "error": f"unknown cameras: {unknown}"})
            return
        self.camera_filter = visible
        wanted = {camera_group(c) for c in visible}
        self.subscribed_groups = await self._move(self.subscribed_groups, wanted)
        await self.send_json({"type": "subscribed", "cameras": sorted(visible)})

    async def _subscribe_to_all(self) -> None:
        """Every camera this user sees: all of them through one group, or, for an account
        limited to its camera groups, each of its cameras (as they are now)."""
        if await self._sees_every_camera():
            self.camera_filter = None
            wanted = {ALL_CAMERAS_GROUP}
        else:
            self.camera_filter = await self._visible_cameras(None)
            wanted = {camera_group(c) for c in self.camera_filter}
        self.subscribed_groups = await self._move(self.subscribed_groups, wanted)

    async def _watch(self, cameras: object) -> None:
        """The cameras whose detections this socket draws: those of `cameras` the user may see;
        other ids are dropped without a word (a camera deleted meanwhile is no error)."""
        if (
            not isinstance(cameras, list)
            or len(cameras) > MAX_WATCHED_CAMERAS
            or not all(isinstance(c, int) and not isinstance(c, bool) for c in cameras)
        ):
            await self.send_json(
                {
                    "type": "error",
                    "error": f"cameras must be a list of at most {MAX_WATCHED_CAMERAS} camera ids",
                }
            )
            return
        visible = await self._visible_cameras(set(cameras))
        wanted = {detections_group(c) for c in visible}
        self.watched_groups = await self._move(self.watched_groups, wanted)
        await self.send_json({"type": "watching", "cameras": sorted(visible)})

    async def _resume(self, after_id: object) -> None:
        if not isinstance(after_id, int) or isinstance(after_id, bool) or after_id < 0:
            await self.send_json(
                {"type": "error", "error": "after_id must be a non-negative integer"}
            )
            return
        # Live events taken before this go first, as they would have without the frame gap.
        # Those that arrive meanwhile wait in the channel layer until this returns; the sent-id
        # memory then drops the ones replay already delivered: no gap, no duplicate.
        await self._send_waiting()
        missed = await self._missed(after_id)
        if len(missed) > REPLAY_LIMIT:
            await self.send_json(
                {"type": "resync", "reason": f"more than {REPLAY_LIMIT} alerts missed"}
            )
            return
        for alert in missed:
            if self._first_time(alert["id"]):
                await self.send_json({"type": "alert", "alert": alert})
        await self.send_json({"type": "resume.done", "replayed": len(missed)})

    # -- group events ------------------------------------------------------------------
    async def skylark_event(self, message: dict) -> None:
        """A broadcast event (alerts/realtime.py); its JSON text was encoded once, for everyone."""
        if text := self._event_text(message):
            await self._emit([text])

    async def skylark_detections(self, message: dict) -> None:
        """Faces in a frame of a watched camera (alerts/realtime.py)."""
        if text := self._detections_text(message):
            await self._emit([text])

    async def layer_batch(self, message: dict) -> None:
        """Messages that were waiting together in the channel layer (config/channel_layer.py):
        their events leave together, anything else is handled in its place."""
        texts: list[str] = []
        for inner in message["messages"]:
            if inner["type"] == "skylark.event":
                if text := self._event_text(inner):
                    texts.append(text)
            elif inner["type"] == "skylark.detections":
                if text := self._detections_text(inner):
                    texts.append(text)
            else:
                await self._emit(texts)
                texts = []
                await self.dispatch(inner)
        await self._emit(texts)

    def _detections_text(self, message: dict) -> str | None:
        """The event's JSON if this connection still watches its camera, else None."""
        if detections_group(message["camera_id"]) in self.watched_groups:
            return message["text"]
        return None

    def _event_text(self, message: dict) -> str | None:
        """The event's JSON if this connection is to send it, else None."""
        if self.camera_filter is not None and message["camera_id"] not in self.camera_filter:
            return None
        if message["alert_id"] is not None and not self._first_time(message["alert_id"]):
            return None
        return message["text"]

    async def skylark_interrupted(self, message: dict) -> None:
        """The layer lost its Redis subscriptions for a while (config/channel_layer.py): events
        published meanwhile never came. The client reconnects and resumes from its last alert."""
        await self.close(code=CLOSE_FEED_INTERRUPTED)

    def _first_time(self, alert_id: int) -> bool:
        """True the first time this connection is about to send the alert (replay and live may
        both carry it while a resume runs), remembering it."""
        if alert_id in self.sent_ids:
            return False
        self.sent_ids[alert_id] = None
        if len(self.sent_ids) > SENT_IDS_REMEMBERED:
            self.sent_ids.popitem(last=False)
        return True

    # -- sending live events -----------------------------------------------------------
    async def _emit(self, texts: list[str]) -> None:
        """Send live events, at most one frame per FRAME_GAP_S: events that come when the last
        frame left that long ago or more leave at once; sooner, they wait for the gap to end,
        and those that come meanwhile leave with them in one frame.

        Every frame costs daphne about 70 us whatever it holds, so at 400 alerts/s to 100
        dashboards this is 4,000 frames a second instead of 13,000, for at most FRAME_GAP_S of
        delay (docs/benchmarks.md). Events are sent from the handler itself when nothing holds
        them back: a hop through another task per event doubled the p99 latency with 1000
        dashboards.
        """
        if not texts:
            return
        self.waiting += texts
        if self.frame_due is not None:
            return  # they leave with the frame already due
        wait = self.last_frame_at + FRAME_GAP_S - asyncio.get_running_loop().time()
        if wait > 0:
            self.frame_due = asyncio.create_task(self._send_after(wait))
        else:
            await self._send_waiting()

    async def _send_after(self, wait: float) -> None:
        await asyncio.sleep(wait)
        self.frame_due = None
        try:
            await self._send_waiting()
        except Exception as exc:  # the socket is gone: its consumer is ending
            logger.debug(kv(event="live_send_failed", error=exc))

    async def _send_waiting(self) -> None:
        """Send the events held back, now."""
        if self.frame_due is not None:
            self.frame_due.cancel()
            self.frame_due = None
        texts, self.waiting = self.waiting, []
        if texts:
            self.last_frame_at = asyncio.get_running_loop().time()
            await self._send_frames(texts)

    async def _send_frames(self, texts: list[str]) -> None:
        """`texts` in order, as few frames as MAX_FRAME_BYTES allows."""
        frame: list[str] = []
        size = 0
        for text in texts:
            if frame and size + len(text) > MAX_FRAME_BYTES:
                await self.send(text_data=batch_text(frame))
                frame, size = [], 0
            frame.append(text)
            size += len(text) + 2
        if frame:
            await self.send(text_data=batch_text(frame))

    # -- helpers -----------------------------------------------------------------------
    async def _move(self, joined: set[str], wanted: set[str]) -> set[str]:
        """Join the groups of `wanted` not in `joined` and leave the others; returns `wanted`."""
        for group in wanted - joined:
            await self.channel_layer.group_add(group, self.channel_name)
        for group in joined - wanted:
            await self._safely(self.channel_layer.group_discard(group, self.channel_name))
        return set(wanted)

    async def _safely(self, awaitable: Awaitable[None]) -> None:
        try:
            await awaitable
        except Exception as exc:  # redis gone while a client leaves: nothing to undo
            logger.debug(kv(event="group_discard_failed", error=exc))

    @database_sync_to_async
    def _visible_cameras(self, ids: set[int] | None) -> set[int]:
        """Of `ids` (None: of all cameras), those this user sees."""
        cameras = cameras_for_user(self.user)
        if ids is not None:
            cameras = cameras.filter(pk__in=ids)
        return set(cameras.values_list("pk", flat=True))

    @database_sync_to_async
    def _sees_every_camera(self) -> bool:
        return sees_every_camera(self.user)

    @database_sync_to_async
    def _missed(self, after_id: int) -> list[dict]:
        filter_ids = sorted(self.camera_filter) if self.camera_filter is not None else None
        alerts = alerts_after(self.user, after_id, camera_ids=filter_ids, limit=REPLAY_LIMIT + 1)
        return list(AlertSerializer(alerts, many=True).data)
