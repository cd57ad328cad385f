"""A Sink that prints the pipeline's results as JSON lines, for the detect command and tuning."""

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Protocol

from .detectors import Box
from .pipeline import AlertEvent, BaseSink, StatusReport, box_to_list


class TextOut(Protocol):
    """Where the lines go: a file, sys.stdout or a management command's stdout."""

    def write(self, text: str, /) -> object: ...

    def flush(self) -> None: ...


class JsonLinesSink(BaseSink):
    """One JSON object per line on `out`: type detections, alert or status. No database.

    duration_s: ask the pipeline to stop after that many seconds. snapshot_dir: also save each
    alert's annotated JPEG there (alert-<n>.jpg) and name the file in the alert line.
    """

    def __init__(
        self,
        out: TextOut,
        duration_s: float | None = None,
        snapshot_dir: Path | None = None,
        recognize: bool = False,
    ) -> None:
        self.out = out
        self.recognize = recognize  # alert lines then name the person (null: unknown)
        self.deadline = time.monotonic() + duration_s if duration_s is not None else None
        self.snapshot_dir = snapshot_dir
        self.alerts = 0

    def on_detections(
        self, at: float, boxes: list[Box], size: tuple[int, int], ignored: list[Box]
    ) -> None:
        self._write(
            {
                "type": "detections",
                "at": round(at, 3),
                "size": list(size),
                "boxes": [box_to_list(b) for b in boxes],
                "ignored": [box_to_list(b) for b in ignored],
            }
        )

    def on_alert(self, event: AlertEvent) -> None:
        self.alerts += 1
        line: dict[str, object] = {
            "type": "alert",
            "at": round(event.at, 3),
            "face_count": event.face_count,
            "boxes": event.boxes,
            "snapshot_bytes": len(event.snapshot_jpeg),
        }
        if self.recognize:
            line["person"] = event.person_id
            line["person_name"] = event.person_name
            line["similarity"] = event.similarity
        if self.snapshot_dir is not None:
            path = self.snapshot_dir / f"alert-{self.alerts}.jpg"
            path.write_bytes(event.snapshot_jpeg)
            line["snapshot"] = str(path)
        self._write(line)

    def on_status(self, report: StatusReport) -> None:
        self._write({"type": "status", **asdict(report)})

    def should_stop(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    def _write(self, record: dict[str, object]) -> None:
        self.out.write(json.dumps(record) + "\n")
        self.out.flush()
