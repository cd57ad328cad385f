"""Haar and YuNet on real photographs: the astronaut is found where she is, grass has no faces."""

from pathlib import Path

import numpy as np
import pytest

from detection.config import PipelineConfig
from detection.detectors import (
    Box,
    DetectorConfigError,
    HaarDetector,
    YuNetDetector,
    detect_downscaled,
    make_detector,
)

from .conftest import FACE_BOX, iou


def assert_finds_the_face(boxes: list[Box]) -> None:
    assert len(boxes) == 1, boxes
    box = boxes[0]
    assert iou(box, FACE_BOX) >= 0.5, (box, FACE_BOX)
    assert 0.0 < box.score <= 1.0


def test_haar_finds_the_face_in_a_720p_frame_via_the_640_copy(face_frame: np.ndarray):
    assert_finds_the_face(detect_downscaled(HaarDetector(), face_frame, 640, 40))


def test_haar_finds_nothing_on_grass(grass_frame: np.ndarray):
    assert detect_downscaled(HaarDetector(), grass_frame, 640, 40) == []


def test_haar_score_is_high_for_a_clear_face(face_frame: np.ndarray):
    (box,) = detect_downscaled(HaarDetector(), face_frame, 640, 40)
    assert box.score >= 0.8


def test_min_face_size_counts_in_full_frame_pixels(face_frame: np.ndarray):
    # The face is 95 px wide in the 1280 frame (48 px in the 640 copy): 90 keeps it, 120 drops it.
    detector = HaarDetector()
    assert len(detect_downscaled(detector, face_frame, 640, 90)) == 1
    assert detect_downscaled(detector, face_frame, 640, 120) == []


def test_a_frame_narrower_than_detect_width_is_used_as_is(face_frame: np.ndarray):
    # Cropped to 1000 px wide: no downscale, boxes straight from the detector.
    crop = np.ascontiguousarray(face_frame[:, :1000])
    assert_finds_the_face(detect_downscaled(HaarDetector(), crop, 1280, 40))


def test_yunet_finds_the_face_in_a_720p_frame_via_the_640_copy(face_frame, yunet_model: str):
    assert_finds_the_face(detect_downscaled(YuNetDetector(yunet_model), face_frame, 640, 40))


def test_yunet_finds_nothing_on_grass(grass_frame: np.ndarray, yunet_model: str):
    assert detect_downscaled(YuNetDetector(yunet_model), grass_frame, 640, 40) == []


def test_yunet_follows_frame_size_changes(face_frame: np.ndarray, yunet_model: str):
    detector = YuNetDetector(yunet_model)
    assert_finds_the_face(detect_downscaled(detector, face_frame, 640, 40))
    assert_finds_the_face(detect_downscaled(detector, face_frame, 960, 40))


def test_yunet_with_a_missing_model_file_says_so(tmp_path: Path):
    missing = tmp_path / "nope.onnx"
    with pytest.raises(DetectorConfigError, match=f"YuNet model not found: {missing}"):
        YuNetDetector(str(missing))


def test_yunet_without_a_model_path_says_what_to_set():
    with pytest.raises(DetectorConfigError, match="FACE_DETECTOR_MODEL"):
        YuNetDetector(None)


def test_yunet_with_a_file_that_is_not_a_model_says_so(tmp_path: Path):
    bogus = tmp_path / "bogus.onnx"
    bogus.write_text("not a model")
    with pytest.raises(DetectorConfigError, match=f"YuNet model could not be loaded: {bogus}"):
        YuNetDetector(str(bogus))


def test_make_detector_builds_what_the_camera_asks_for(yunet_model: str):
    haar = make_detector(PipelineConfig(camera_id=1, name="c", source="/x.mp4", min_neighbors=4))
    assert isinstance(haar, HaarDetector)
    assert haar.min_neighbors == 4
    yunet = make_detector(
        PipelineConfig(
            camera_id=1, name="c", source="/x.mp4", detector="yunet", model_path=yunet_model
        )
    )
    assert isinstance(yunet, YuNetDetector)
