"""Where browsers play a camera's annotated video over WebRTC: MediaMTX's WHEP endpoint."""

from django.conf import settings

from .naming import stream_path


def whep_url(camera_id: int) -> str | None:
    """The WHEP endpoint of the camera's stream, or None when no MediaMTX WebRTC URL is set."""
    base = settings.MEDIAMTX_WEBRTC_URL.rstrip("/")
    if not base:
        return None
    return f"{base}/{stream_path(camera_id)}/whep"
