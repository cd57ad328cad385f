"""Who a face is: dlib's ResNet face descriptor (128-d, after its 5-point alignment) compared by
cosine similarity with the descriptors of enrolled people.

The weights ship in PyPI's `face-recognition-models` (installed with Skylark; its 68-point model
is never loaded: its training data bars commercial use) and dlib comes as the `dlib-bin` wheel.
Pure: nothing here knows Django; the caller hands over the enrolled people as a Gallery.
"""

import importlib.util
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import cv2
import dlib
import numpy as np

from .detectors import Box

DESCRIPTOR_SIZE = 128
# Cosine similarity of unit descriptors, measured on the committed photographs (tests/detection/
# test_recognition.py): the same face resized, mirrored, relit, rotated or re-encoded scores
# 0.983-1.0; the astronaut and Grace Hopper 0.875-0.904. dlib's own rule (Euclidean 0.6 between raw
# vectors, whose norm is about 1.44) is about 0.91 here; 0.94 (raw distance 0.5) keeps a margin
# against false names, and same-person distances reported for dlib on public portraits (raw
# 0.28-0.42) are 0.96 and above.
DEFAULT_MIN_SIMILARITY = 0.94


class RecognitionUnavailable(Exception):
    """The recognition model files cannot be found or loaded."""


def model_dir() -> str:
    """Where `face-recognition-models` put its .dat files. Found without importing the package,
    whose __init__ needs pkg_resources (gone from recent setuptools)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise RecognitionUnavailable("the face-recognition-models package is not installed")
    return os.path.join(list(spec.submodule_search_locations)[0], "models")


class FaceDescriber:
    """Aligns a detected face with dlib's 5-point shape predictor and describes it (about 80 ms a
    face on one core). Descriptors come back as unit vectors, so a dot product is the cosine."""

    def __init__(self, models: str | None = None) -> None:
        folder = models or model_dir()
        shape = os.path.join(folder, "shape_predictor_5_face_landmarks.dat")
        resnet = os.path.join(folder, "dlib_face_recognition_resnet_model_v1.dat")
        for path in (shape, resnet):
            if not os.path.isfile(path):
                raise RecognitionUnavailable(f"recognition model not found: {path}")
        self._shape = dlib.shape_predictor(shape)
        self._resnet = dlib.face_recognition_model_v1(resnet)

    def describe(self, image_bgr: np.ndarray, box: Box) -> np.ndarray:
        """The unit descriptor (float32, 128) of the face at `box` in `image_bgr`."""
        rgb = np.ascontiguousarray(cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB))
        rect = dlib.rectangle(box.x, box.y, box.x + box.w, box.y + box.h)
        landmarks = self._shape(rgb, rect)
        vector = np.asarray(self._resnet.compute_face_descriptor(rgb, landmarks), dtype=np.float32)
        return unit(vector)


def unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return (vector / norm).astype(np.float32) if norm > 0 else vector.astype(np.float32)


@dataclass(frozen=True)
class Identity:
    person_id: int
    name: str
    watch: bool  # on the watch list
    similarity: float  # cosine similarity with the closest enrolled sample


@dataclass(frozen=True)
class Enrolled:
    """One enrolled sample: whose it is, and its unit descriptor."""

    person_id: int
    name: str
    watch: bool
    descriptor: np.ndarray


class Gallery:
    """The enrolled samples as one matrix: a match is one matrix-vector product (1,000 people
    with a few samples each take well under a millisecond)."""

    def __init__(self, samples: list[Enrolled], min_similarity: float = DEFAULT_MIN_SIMILARITY):
        self.samples = samples
        self.min_similarity = min_similarity
        self._matrix = (
            np.stack([s.descriptor for s in samples]).astype(np.float32)
            if samples
            else np.zeros((0, DESCRIPTOR_SIZE), np.float32)
        )

    def __len__(self) -> int:
        return len(self.samples)

    def match(self, descriptor: np.ndarray) -> Identity | None:
        """The enrolled person most like `descriptor`, if at least min_similarity alike."""
        if not self.samples:
            return None
        similarities = self._matrix @ unit(descriptor)
        best = int(np.argmax(similarities))
        similarity = float(similarities[best])
        if similarity < self.min_similarity:
            return None
        sample = self.samples[best]
        return Identity(sample.person_id, sample.name, sample.watch, round(similarity, 3))


class Describer(Protocol):
    def describe(self, image_bgr: np.ndarray, box: Box) -> np.ndarray: ...


@dataclass(frozen=True)
class Recognition:
    """What a pipeline recognises faces with: a describer, the current gallery (a callable, so the
    caller can swap in a new one when people are enrolled or removed) and how many detections of
    a new track are described before it is called unknown."""

    describer: Describer
    gallery: Callable[[], Gallery]
    tries: int = 3
