"""Fixtures for camera loops run by real Celery processes against a simulated RTSP camera."""

import pytest

from simulator.videos import FaceSpan, ensure_video

# 40 s of 720p: a face for 6 s every 10 s (the simulator loops it).
FACE_SPANS = [FaceSpan(2 + 10 * i, 8 + 10 * i) for i in range(4)]


@pytest.fixture(scope="session")
def face_video():
    return ensure_video("streams-e2e", FACE_SPANS, 40.0)
