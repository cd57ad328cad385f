"""Per-camera gauges for /metrics, read from what the loops last reported to the database."""

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from .models import Camera

STATUS_VALUES = [s.value for s in Camera.Status]


class CameraCollector(Collector):
    def describe(self) -> Iterator[GaugeMetricFamily]:
        """Names only, so registering at start-up does not query the database."""
        return self._families(rows=[])

    def collect(self) -> Iterator[GaugeMetricFamily]:
        return self._families(
            Camera.objects.values_list("pk", "fps_in", "fps_out", "frames_dropped", "status")
        )

    def _families(self, rows) -> Iterator[GaugeMetricFamily]:
        fps_in = GaugeMetricFamily(
            "skylark_camera_fps_in", "Frames read per second", labels=["camera"]
        )
        fps_out = GaugeMetricFamily(
            "skylark_camera_fps_out", "Frames published per second", labels=["camera"]
        )
        dropped = GaugeMetricFamily(
            "skylark_camera_frames_dropped",
            "Frames dropped since the loop started",
            labels=["camera"],
        )
        status = GaugeMetricFamily(
            "skylark_camera_status",
            "1 for the camera's current status",
            labels=["camera", "status"],
        )
        for pk, f_in, f_out, drops, current in rows:
            label = str(pk)
            fps_in.add_metric([label], f_in)
            fps_out.add_metric([label], f_out)
            dropped.add_metric([label], drops)
            for value in STATUS_VALUES:
                status.add_metric([label, value], 1.0 if value == current else 0.0)
        yield from (fps_in, fps_out, dropped, status)
