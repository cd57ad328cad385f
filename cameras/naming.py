"""One place for the names derived from a camera: its media path and its Redis keys."""


def stream_path(camera_id: int) -> str:
    """The MediaMTX path the camera's annotated video is published to and played from."""
    return f"cam{camera_id}"


def camera_id_from_stream_path(path: str) -> int | None:
    if path.startswith("cam") and path[3:].isdigit() and len(path) < 24:
        return int(path[3:])
    return None


def lease_key(camera_id: int) -> str:
    """Redis key of the lease that lets exactly one loop run the camera."""
    return f"skylark:lease:camera:{camera_id}"


def preview_key(camera_id: int) -> str:
    """Redis key holding the newest annotated JPEG of the camera."""
    return f"skylark:preview:camera:{camera_id}"


def watchers_key(camera_id: int) -> str:
    """Redis key that exists while someone watches the camera's MJPEG/snapshot preview."""
    return f"skylark:watchers:camera:{camera_id}"


def enqueue_guard_key(camera_id: int) -> str:
    """Redis key that exists for a while after the camera's loop was queued (no second queueing)."""
    return f"skylark:enqueued:camera:{camera_id}"


def handover_key(camera_id: int) -> str:
    """Redis key that asks the camera's loop to end so a less busy worker takes the camera."""
    return f"skylark:handover:camera:{camera_id}"


# Sorted set of the streams workers alive: worker name -> unix time of its last heartbeat.
STREAMS_WORKERS_KEY = "skylark:streams:workers"
