"""Face detectors behind one small interface: OpenCV's Haar cascade (default) and YuNet (ONNX).

detect_downscaled() runs a detector on a copy at most detect_width wide and maps the boxes back,
which is how the pipeline calls them; the detectors themselves work in the coordinates they get.
"""

import math
import os
from typing import NamedTuple, Protocol

import cv2
import cv2.data
import numpy as np

from .config import PipelineConfig
from .regions import Region

# Reference design: faces outside this width/height range are not faces.
_MIN_ASPECT, _MAX_ASPECT = 0.6, 1.4


class Box(NamedTuple):
    x: int
    y: int
    w: int
    h: int
    score: float  # 0..1, higher is more certain; see each detector for what it means


class DetectorConfigError(Exception):
    """The detector cannot be built as configured (missing or unreadable model file)."""


class FaceDetector(Protocol):
    def detect(self, frame_bgr: np.ndarray, min_size: int | None = None) -> list[Box]:
        """Faces in frame_bgr, in its coordinates. min_size overrides the configured minimum
        face size (pixels of this frame), for callers that downscale the frame first."""
        ...


class HaarDetector:
    """OpenCV's frontal-face Haar cascade on the equalized grayscale frame.

    score = logistic(levelWeight / 2), where levelWeight is the cascade's final-stage sum from
    detectMultiScale3: clear frontal faces (weight >= 4.4) score >= 0.9, borderline windows about
    0.5. It ranks boxes; it is not a calibrated probability and is not thresholded.
    """

    def __init__(
        self, scale_factor: float = 1.1, min_neighbors: int = 6, min_face_size: int = 40
    ) -> None:
        path = os.path.join(cv2.data.haarcascades, "haarcascade_frontalface_default.xml")
        self._cascade = cv2.CascadeClassifier(path)
        if self._cascade.empty():
            raise DetectorConfigError(f"Haar cascade could not be loaded: {path}")
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        self.min_face_size = min_face_size

    def detect(self, frame_bgr: np.ndarray, min_size: int | None = None) -> list[Box]:
        gray = cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2GRAY)
        cv2.equalizeHist(gray, dst=gray)
        size = min_size or self.min_face_size
        rects, _levels, weights = self._cascade.detectMultiScale3(
            gray,
            scaleFactor=self.scale_factor,
            minNeighbors=self.min_neighbors,
            minSize=(size, size),
            outputRejectLevels=True,
        )
        boxes = []
        for (x, y, w, h), weight in zip(rects, weights, strict=True):
            # The default cascade yields squares; the filter guards other cascades and keeps the
            # reference parameters in one visible place.
            if _MIN_ASPECT <= w / h <= _MAX_ASPECT:
                score = 1.0 / (1.0 + math.exp(-float(weight) / 2.0))
                boxes.append(Box(int(x), int(y), int(w), int(h), score))
        return boxes


class YuNetDetector:
    """OpenCV's FaceDetectorYN with a YuNet ONNX model; score is the model's face confidence."""

    def __init__(
        self,
        model_path: str | None,
        score_threshold: float = 0.7,
        nms_threshold: float = 0.3,
        top_k: int = 5000,
        min_face_size: int = 40,
    ) -> None:
        if not model_path:
            raise DetectorConfigError(
                "YuNet detector needs a model file: set model_path (FACE_DETECTOR_MODEL)"
            )
        if not os.path.isfile(model_path):
            raise DetectorConfigError(f"YuNet model not found: {model_path}")
        try:
            # The input size is a placeholder: detect() sets the real one per frame size.
            self._net = cv2.FaceDetectorYN.create(
                model_path, "", (320, 320), score_threshold, nms_threshold, top_k
            )
        except cv2.error as exc:
            reason = str(exc).strip().splitlines()[-1]
            raise DetectorConfigError(
                f"YuNet model could not be loaded: {model_path} ({reason})"
            ) from exc
        self._input_size = (320, 320)
        self.min_face_size = min_face_size

    def detect(self, frame_bgr: np.ndarray, min_size: int | None = None) -> list[Box]:
        height, width = frame_bgr.shape[:2]
        if (width, height) != self._input_size:
            self._net.setInputSize((width, height))
            self._input_size = (width, height)
        _, faces = self._net.detect(frame_bgr)
        if faces is None:
            return []
        size = min_size or self.min_face_size
        boxes = []
        for face in faces:
            x, y = max(0, round(float(face[0]))), max(0, round(float(face[1])))
            w = min(width - x, round(float(face[2])))
            h = min(height - y, round(float(face[3])))
            # YuNet boxes are tighter and taller than Haar's squares: compare the larger side.
            if max(w, h) >= size:
                boxes.append(Box(x, y, w, h, float(face[-1])))
        return boxes


def make_detector(config: PipelineConfig) -> FaceDetector:
    """The detector a camera is configured for; DetectorConfigError if it cannot be built."""
    if config.detector == "yunet":
        return YuNetDetector(
            config.model_path,
            score_threshold=config.score_threshold,
            min_face_size=config.min_face_size,
        )
    return HaarDetector(config.scale_factor, config.min_neighbors, config.min_face_size)


def detect_downscaled(
    detector: FaceDetector, frame_bgr: np.ndarray, detect_width: int, min_face_size: int
) -> list[Box]:
    """Run detector on a copy at most detect_width wide; boxes come back in full-frame pixels.

    min_face_size is in full-frame pixels and is scaled with the frame, so a camera's setting
    means the same whatever detect_width is.
    """
    height, width = frame_bgr.shape[:2]
    if width <= detect_width:
        return detector.detect(frame_bgr, min_face_size)
    small_height = max(1, round(height * detect_width / width))
    small = cv2.resize(frame_bgr, (detect_width, small_height), interpolation=cv2.INTER_AREA)
    sx, sy = width / detect_width, height / small_height
    min_size = max(1, round(min_face_size * detect_width / width))
    return [
        Box(round(b.x * sx), round(b.y * sy), round(b.w * sx), round(b.h * sy), b.score)
        for b in detector.detect(small, min_size)
    ]


def detect_in_region(
    detector: FaceDetector,
    frame_bgr: np.ndarray,
    region: Region | None,
    detect_width: int,
    min_face_size: int,
) -> list[Box]:
    """detect_downscaled() on one region of the frame (all of it when None), at the scale the whole
    frame would be searched at, so a face is found there as it would be in the whole frame; boxes
    come back in full-frame pixels."""
    if region is None:
        return detect_downscaled(detector, frame_bgr, detect_width, min_face_size)
    width = frame_bgr.shape[1]
    crop = frame_bgr[region.y : region.y + region.h, region.x : region.x + region.w]
    crop_width = max(1, round(region.w * min(1.0, detect_width / width)))
    return [
        Box(b.x + region.x, b.y + region.y, b.w, b.h, b.score)
        for b in detect_downscaled(detector, crop, crop_width, min_face_size)
    ]
