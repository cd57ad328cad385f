"""manage.py detect: JSON lines for a file played once, readable errors, no database."""

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from .conftest import FACE_BOX, VideoFactory, iou


def test_a_file_played_once_prints_detections_one_alert_and_status(
    make_video: VideoFactory, tmp_path: Path
):
    video = make_video("face-from-0.5s", 3.0, [(0.5, 2.5)])
    out = StringIO()
    call_command(
        "detect",
        "--source", str(video),
        "--once",
        "--interval-ms", "250",
        "--cooldown", "2",
        "--snapshot-dir", str(tmp_path / "snaps"),
        stdout=out,
    )  # fmt: skip
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    by_type = {
        kind: [line for line in lines if line["type"] == kind]
        for kind in ("detections", "alert", "status")
    }
    assert len(lines) == sum(len(group) for group in by_type.values())

    (alert,) = by_type["alert"]
    assert alert["face_count"] == 1
    assert iou(alert["boxes"][0], FACE_BOX) >= 0.5
    assert Path(alert["snapshot"]).read_bytes()[:2] == b"\xff\xd8"  # a JPEG
    # One per detection: every 250 ms while something moves (the face coming and going, plus the
    # gating's tail); a loaded machine skips some, so only a floor is held.
    assert len(by_type["detections"]) >= 3
    assert any(line["boxes"] == [] for line in by_type["detections"])
    assert by_type["status"][-1]["status"] == "stopped"
    assert {"fps_in", "fps_out", "frames_dropped", "reconnects"} <= by_type["status"][0].keys()


def test_a_missing_yunet_model_is_a_command_error(make_video: VideoFactory, tmp_path: Path):
    video = make_video("face-from-0.5s", 3.0, [(0.5, 2.5)])
    missing = tmp_path / "yunet.onnx"
    with pytest.raises(CommandError, match=f"YuNet model not found: {missing}"):
        call_command(
            "detect", "--source", str(video), "--detector", "yunet", "--model", str(missing)
        )


def test_once_needs_a_file_source():
    with pytest.raises(CommandError, match="--once applies to a file source only"):
        call_command("detect", "--source", "rtsp://cam/stream", "--once")
