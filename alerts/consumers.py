"""The live feed: alerts and camera status over one WebSocket, with resume after a reconnect.

Client → server: {"type": "subscribe", "cameras": [ids] | null}, {"type": "resume", "after_id": N},
{"type": "ping"}. Server → client: {"type": "alert", ...}, {"type": "camera.status", ...},
{"type": "subscribed", ...}, {"type": "resume.done", ...}, {"type": "resync", ...},
{"type": "error", "error": "..."}, {"type": "pong"}, and {"type": "batch", "events": [...]}: live
events that were waiting together, in order, in one frame (alerts/realtime.py). Live events leave
at most once per FRAME_GAP_S per socket, so under load they wait and leave in batches.
"""

import asyncio
import contextlib
import functools
import json
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import get_channel_layer
from prometheus_client import Gauge

from cameras.selectors import cameras_for_user
from detection.logfmt import kv

from .realtime import ALL_CAMERAS_GROUP, batch_text, camera_group
from .selectors import alerts_after
from .serializers import AlertSerializer

logger = logging.getLogger("skylark.realtime")

REPLAY_LIMIT = 500  # more missed alerts than this: the client is told to reload (resync)
MAX_MESSAGE_BYTES = 16 * 1024
MAX_SUBSCRIBED_CAMERAS = 200
SENT_IDS_REMEMBERED = 5000
CLOSE_TOKEN_EXPIRED = 4401
CLOSE_MESSAGE_TOO_BIG = 4009  # daphne lets applications close only with 1000 or 3000-4999
CLOSE_FEED_INTERRUPTED = 4012  # live events may have been lost: reconnect and resume
# Live events go out at most once per this many seconds per socket; what comes meanwhile waits
# and leaves with the next frame, as one batch (_spaced).
FRAME_GAP_S = 0.025
# A batch frame holds events up to this size; more go in the next frame. daphne refuses to send
# a WebSocket message over 1 MiB (its --websocket_max_message_size) and fails the connection.
MAX_FRAME_BYTES = 512 * 1024

WEBSOCKET_CONNECTIONS = Gauge(
    "skylark_websocket_connections", "Open dashboard/API WebSocket connections"
)


async def _dispatch_in_turn(
    receivers: list[Callable[[], Awaitable[dict]]], dispatch: Callable[[dict], Awaitable[None]]
) -> None:
    """What Channels' await_many_dispatch() does, without its cost per message.

    That one waits on both sources with asyncio.wait() and starts a new task for every message:
    a quarter of daphne's CPU while it fanned alerts out to 1000 dashboards (py-spy,
    docs/benchmarks.md). Here one task per source reads its messages in a loop, and a lock runs
    one handler at a time, in the order the messages were taken, as Channels does. The first
    handler exception (StopConsumer when the socket closes) ends both.
    """
    lock = asyncio.Lock()

    async def pump(receive: Callable[[], Awaitable[dict]]) -> None:
        while True:
            message = await receive()
            async with lock:
                await dispatch(message)

    tasks = [asyncio.create_task(pump(receive)) for receive in receivers]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            task.result()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _spaced(receive: Callable[[], Awaitable[dict]], gap: float) -> Callable[[], Awaitable[dict]]:
    """receive(), taking each message at least `gap` seconds after the one before.

    An event that comes alone leaves at once; events that come close together wait in the
    layer's queue and leave with the next receive() in one batch. Every frame costs daphne
    about 70 us whatever it holds, so at 400 alerts/s to 100 dashboards this is 4,000 frames a
    second instead of 13,000, for at most `gap` of delay (docs/benchmarks.md).
    """
    loop = asyncio.get_running_loop()
    taken_at = -gap

    async def spaced() -> dict:
        nonlocal taken_at
        wait = taken_at + gap - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        message = await receive()
        taken_at = loop.time()
        return message

    return spaced


class AlertConsumer(AsyncJsonWebsocketConsumer):
    async def __call__(self, scope, receive, send) -> None:
        """Channels' AsyncConsumer.__call__ (channels 4.3, pinned), with the messages handed to
        dispatch() by _dispatch_in_turn()."""
        self.scope = scope
        self.channel_layer = get_channel_layer(self.channel_layer_alias)
        self.channel_name = await self.channel_layer.new_channel()
        self.channel_receive = functools.partial(self.channel_layer.receive, self.channel_name)
        self.base_send = send
        with contextlib.suppress(StopConsumer):  # the socket closed
            await _dispatch_in_turn(
                [receive, _spaced(self.channel_receive, FRAME_GAP_S)], self.dispatch
            )

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close()  # before accept: the handshake is refused with HTTP 403
            return
        self.user = user
        self.groups_joined: set[str] = set()
        self.sent_ids: OrderedDict[int, None] = OrderedDict()
        self.camera_filter: set[int] | None = None
        await self.accept()
        WEBSOCKET_CONNECTIONS.inc()
        await self._join({ALL_CAMERAS_GROUP})
        expires_at = self.scope.get("token_expires_at")
        self.expiry_task = (
            asyncio.create_task(self._close_at(expires_at)) if expires_at is not None else None
        )

    async def disconnect(self, code: int) -> None:
        if not hasattr(self, "user"):
            return
        WEBSOCKET_CONNECTIONS.dec()
        for group in self.groups_joined:
            await self._safely(self.channel_layer.group_discard(group, self.channel_name))
        if self.expiry_task is not None:
            self.expiry_task.cancel()

    async def _close_at(self, expires_at: float) -> None:
        await asyncio.sleep(max(0.0, expires_at - time.time()))
        await self.send_json({"type": "error", "error": "token expired"})
        await self.close(code=CLOSE_TOKEN_EXPIRED)

    # -- client messages ---------------------------------------------------------------
    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
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
        elif kind == "ping":
            await self.send_json({"type": "pong"})
        else:
            await self.send_json(
                {"type": "error", "error": f"unknown message type {str(kind)[:40]!r}"}
            )

    async def _subscribe(self, cameras: object) -> None:
        if cameras is None:
            self.camera_filter = None
            await self._join({ALL_CAMERAS_GROUP})
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
        await self._join({camera_group(c) for c in visible})
        await self.send_json({"type": "subscribed", "cameras": sorted(visible)})

    async def _resume(self, after_id: object) -> None:
        if not isinstance(after_id, int) or isinstance(after_id, bool) or after_id < 0:
            await self.send_json(
                {"type": "error", "error": "after_id must be a non-negative integer"}
            )
            return
        # Group events that arrive meanwhile wait in the channel layer until this returns; the
        # sent-id memory then drops the ones replay already delivered: no gap, no duplicate.
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

    # -- group events ------------------------------------------------------------------
    async def skylark_event(self, message: dict) -> None:
        """A broadcast event (alerts/realtime.py); its JSON text was encoded once, for everyone."""
        if text := self._event_text(message):
            await self.send(text_data=text)

    async def layer_batch(self, message: dict) -> None:
        """Messages that were waiting together in the channel layer (config/channel_layer.py):
        their events go out in one frame (several, past MAX_FRAME_BYTES), anything else is
        handled in its place."""
        texts: list[str] = []
        size = 0
        for inner in message["messages"]:
            if inner["type"] == "skylark.event":
                if text := self._event_text(inner):
                    if texts and size + len(text) > MAX_FRAME_BYTES:
                        await self.send(text_data=batch_text(texts))
                        texts, size = [], 0
                    texts.append(text)
                    size += len(text) + 2
                continue
            if texts:
                await self.send(text_data=batch_text(texts))
                texts, size = [], 0
            await self.dispatch(inner)
        if texts:
            await self.send(text_data=batch_text(texts))

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

    # -- helpers -----------------------------------------------------------------------
    async def _join(self, groups: set[str]) -> None:
        for group in groups - self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        for group in self.groups_joined - groups:
            await self._safely(self.channel_layer.group_discard(group, self.channel_name))
        self.groups_joined = set(groups)

    async def _safely(self, awaitable) -> None:
        try:
            await awaitable
        except Exception as exc:  # redis gone while a client leaves: nothing to undo
            logger.debug(kv(event="group_discard_failed", error=exc))

    @database_sync_to_async
    def _visible_cameras(self, ids: set[int]) -> set[int]:
        return set(cameras_for_user(self.user).filter(pk__in=ids).values_list("pk", flat=True))

    @database_sync_to_async
    def _missed(self, after_id: int) -> list[dict]:
        filter_ids = sorted(self.camera_filter) if self.camera_filter is not None else None
        alerts = alerts_after(self.user, after_id, camera_ids=filter_ids, limit=REPLAY_LIMIT + 1)
        return AlertSerializer(alerts, many=True).data
