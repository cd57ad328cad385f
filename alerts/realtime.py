"""Live fan-out over Channels groups: the group names and the one broadcast function."""

import json
import logging
from collections.abc import Iterable
from typing import Protocol, cast

from channels.layers import get_channel_layer

from detection.logfmt import kv

logger = logging.getLogger("skylark.realtime")

ALL_CAMERAS_GROUP = "cameras.all"


def camera_group(camera_id: int) -> str:
    """The Channels group of one camera's alerts and status events."""
    return f"cameras.{camera_id}"


def detections_group(camera_id: int) -> str:
    """The Channels group of the sockets that watch one camera's detections (original mode)."""
    return f"detections.{camera_id}"


def group_message(camera_id: int, event: dict) -> dict:
    """The channel-layer message that carries `event` to the live-feed consumers."""
    return {
        "type": "skylark.event",
        "camera_id": camera_id,
        "alert_id": event["alert"]["id"] if event["type"] == "alert" else None,
        "text": json.dumps(event),  # encoded once here, not once per connected client
    }


def batch_text(texts: list[str]) -> str:
    """One WebSocket message for the encoded events `texts`: the event itself if alone, else
    {"type": "batch", "events": [...]} holding them in order."""
    if len(texts) == 1:
        return texts[0]
    return '{"type": "batch", "events": [' + ", ".join(texts) + "]}"


def events_in(message: dict) -> list[dict]:
    """The events a received live-feed message carries, in order (for Python clients)."""
    if message.get("type") == "batch":
        return message["events"]
    return [message]


class _GroupsLayer(Protocol):
    """What broadcast needs of the channel layer that settings.CHANNEL_LAYERS configures."""

    def group_send_blocking(self, groups: Iterable[str], message: dict) -> None: ...


def broadcast(camera_id: int, event: dict) -> None:
    """Send `event` to subscribers of the camera and of all cameras.

    Called only after the database commit. A Redis outage must not undo a saved alert:
    the send is logged and dropped, and clients recover the alert through resume.
    """
    layer = cast(_GroupsLayer, get_channel_layer())
    message = group_message(camera_id, event)
    try:
        # A client is either in the all-cameras group or in some camera groups, never both.
        layer.group_send_blocking((ALL_CAMERAS_GROUP, camera_group(camera_id)), message)
    except Exception as exc:  # redis down or restarting: the data is safe in PostgreSQL
        logger.warning(
            kv(event="broadcast_failed", camera=camera_id, type=event["type"], error=exc)
        )


def broadcast_detections(
    camera_id: int,
    at: float,
    size: tuple[int, int],
    boxes: list[list[float]],
    ignored: list[list[float]] | None = None,
) -> None:
    """Send the faces found in one frame of an original-mode camera to the sockets that watch
    it, which draw the boxes over the camera's own video.

    `at` is the frame's time (seconds since the epoch), `size` its width and height, `boxes`
    [x, y, w, h, score] in its pixels; `ignored` the faces outside every zone or inside a mask,
    drawn in another colour. Live only: nothing is saved or replayed, and a Redis
    outage drops them (the next frame's detections follow within a second).
    """
    layer = cast(_GroupsLayer, get_channel_layer())
    event = {"type": "detections", "camera": camera_id, "at": at, "size": list(size)}
    text = json.dumps({**event, "boxes": boxes, "ignored": ignored or []})
    message = {"type": "skylark.detections", "camera_id": camera_id, "text": text}
    try:
        layer.group_send_blocking((detections_group(camera_id),), message)
    except Exception as exc:
        logger.debug(kv(event="detections_broadcast_failed", camera=camera_id, error=exc))
