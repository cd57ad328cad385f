"""The demo set-up of `make run`: the demo operator and two simulated cameras with real faces."""

import os
from pathlib import Path

from accounts.services import ensure_operator

from . import services
from .models import Camera

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo-pass-123"  # noqa: S105 - the documented demo login
# Camera name -> the simulator stream (a video of simulator/videos.DEMO_VIDEOS).
DEMO_CAMERAS = {
    "Demo lobby": ("demo-cam-a", "Ground floor"),
    "Demo parking": ("demo-cam-b", "Car park entrance"),
}


def demo_rtsp_port() -> int:
    return int(os.environ.get("DEMO_RTSP_PORT", "8654"))


def demo_videos() -> dict[str, Path]:
    """The demo videos, generated on first use (about half a minute) and cached under var/videos."""
    from simulator.videos import DEMO_VIDEOS, ensure_video

    return {
        name: ensure_video(name, spans, duration) for name, (spans, duration) in DEMO_VIDEOS.items()
    }


def ensure_demo() -> list[Camera]:
    """Create the demo login and cameras if absent, point them at the simulator, and start them."""
    ensure_operator(username=DEMO_USERNAME, password=DEMO_PASSWORD)
    cameras = []
    for name, (stream, location) in DEMO_CAMERAS.items():
        url = f"rtsp://127.0.0.1:{demo_rtsp_port()}/{stream}"
        camera, _ = Camera.objects.get_or_create(
            name=name,
            defaults={"url": url, "location": location, "interval_ms": 500, "cooldown_s": 3},
        )
        if camera.url != url:
            camera.url = url
            camera.save(update_fields=["url", "updated_at"])
        cameras.append(services.start_stream(camera))
    return cameras
