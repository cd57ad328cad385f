"""Prometheus metrics of the camera loops, exposed by each worker (WORKER_METRICS_PORT)."""

from prometheus_client import Counter, Gauge, Histogram

DETECTION_SECONDS = Histogram(
    "skylark_detection_seconds",
    "Time to run the face detector on one frame (downscaled copy)",
    ["camera"],
    buckets=(0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28),
)
CAMERA_RECONNECTS = Gauge(
    "skylark_camera_reconnects", "Reconnection attempts since the camera's loop started", ["camera"]
)
ALERTS_CREATED = Counter("skylark_alerts_created_total", "Alerts stored", ["camera"])
