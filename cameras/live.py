"""Live pictures without MediaMTX: the newest annotated frame as a snapshot or an MJPEG stream.

The pipeline writes its newest JPEG to Redis; these views read it. While a stream or a snapshot
is being served, a short-lived "watchers" key tells the pipeline to encode previews often.
"""

import asyncio
import logging
from collections.abc import AsyncIterator
from functools import cache
from typing import cast

import cv2
import numpy as np
import redis
import redis.asyncio as aioredis
from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import aget_object_or_404

from accounts.views import approved_required

from .models import Camera
from .naming import preview_key, watchers_key
from .selectors import cameras_for_user

logger = logging.getLogger("skylark.live")

BOUNDARY = "skylarkframe"
FRAME_POLL_S = 0.1  # how often the stream looks for a newer frame (previews arrive at ≤ 5/s)
PLACEHOLDER_EVERY_S = 2.0  # a camera without frames still gets a picture this often
WATCH_TTL_S = 5


@cache
def placeholder_jpeg() -> bytes:
    """A dark 640x360 card that says there is no picture yet."""
    image = np.full((360, 640, 3), 24, dtype=np.uint8)
    cv2.putText(
        image, "No video yet", (210, 190), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (200, 200, 200), 2
    )
    return cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 70])[1].tobytes()


def _client() -> aioredis.Redis:
    return aioredis.Redis.from_url(settings.REDIS_URL, socket_timeout=3, socket_connect_timeout=3)


async def _camera_for(request: HttpRequest, camera_id: int) -> Camera:
    user = await request.auser()
    return await aget_object_or_404(await sync_to_async(cameras_for_user)(user), pk=camera_id)


def _part(jpeg: bytes) -> bytes:
    # The boundary that ends a frame is sent with it: browsers show a part only once they see it.
    header = f"Content-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
    return header.encode() + jpeg + f"\r\n--{BOUNDARY}\r\n".encode()


async def _frames(camera_id: int) -> AsyncIterator[bytes]:
    """Yields MJPEG parts until the client goes away (Django cancels the iterator then)."""
    client = _client()
    last: bytes | None = None
    loop = asyncio.get_running_loop()
    next_placeholder = 0.0
    next_watch = 0.0
    try:
        yield f"--{BOUNDARY}\r\n".encode()
        while True:
            now = loop.time()
            try:
                if now >= next_watch:
                    await client.set(watchers_key(camera_id), "1", ex=WATCH_TTL_S)
                    next_watch = now + 1.0
                # The client decodes nothing, so values are bytes.
                jpeg = cast(bytes | None, await client.get(preview_key(camera_id)))
            except redis.RedisError:
                jpeg = None  # Redis restarting: keep the stream open and show the placeholder
            if jpeg is not None and jpeg != last:
                last = jpeg
                yield _part(jpeg)
            elif jpeg is None and now >= next_placeholder:
                next_placeholder = now + PLACEHOLDER_EVERY_S
                yield _part(placeholder_jpeg())
            await asyncio.sleep(FRAME_POLL_S)
    finally:
        await client.aclose()


@approved_required(page=False)
async def live_mjpeg(request: HttpRequest, camera_id: int) -> StreamingHttpResponse:
    camera = await _camera_for(request, camera_id)
    response = StreamingHttpResponse(
        _frames(camera.pk), content_type=f"multipart/x-mixed-replace; boundary={BOUNDARY}"
    )
    response["Cache-Control"] = "no-store"
    response["X-Accel-Buffering"] = "no"
    return response


@approved_required(page=False)
async def snapshot_jpeg(request: HttpRequest, camera_id: int) -> HttpResponse:
    camera = await _camera_for(request, camera_id)
    client = _client()
    try:
        await client.set(watchers_key(camera.pk), "1", ex=WATCH_TTL_S)
        jpeg = await client.get(preview_key(camera.pk))
    except redis.RedisError:
        return JsonResponse(
            {"detail": "Live frames are unavailable (Redis unreachable)."}, status=503
        )
    finally:
        await client.aclose()
    if jpeg is None:
        if camera.desired_state != Camera.DesiredState.RUNNING:
            return JsonResponse(
                {"detail": "The camera is stopped; start it to get a picture."}, status=404
            )
        return JsonResponse(
            {"detail": f"No frame yet (camera status: {camera.status})."},
            status=503,
            headers={"Retry-After": "2"},
        )
    return HttpResponse(jpeg, content_type="image/jpeg", headers={"Cache-Control": "no-store"})
