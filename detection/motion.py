"""Cheap motion detection: difference of a small blurred grayscale copy against a running average.

The pipeline uses it to run the face detector at full rate only while something moves, and only
where something moved.
"""

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from .regions import Region

# Blobs of change at most this many mask pixels across are specks, not movers.
_SPECK = 2


@dataclass(frozen=True)
class Motion:
    """Something moved. region: where, in the frame's pixels; None when the change is everywhere
    or cannot be placed (warm-up, the first frame, a new frame size)."""

    region: Region | None


class MotionDetector:
    def __init__(
        self,
        width: int = 160,
        threshold: int = 25,
        min_area: float = 0.003,
        alpha: float = 0.05,
        warmup_frames: int = 3,
        ignore: Callable[[tuple[int, int]], np.ndarray | None] | None = None,
    ) -> None:
        """threshold: gray-level change that counts; min_area: fraction of pixels that must change;
        alpha: how fast a still object fades into the background (0.05 ≈ 2 s at 15 fps);
        ignore: given the small copy's (width, height), 255 where change does not count (masks)."""
        self.width = width
        self.threshold = threshold
        self.min_area = min_area
        self.alpha = alpha
        self.warmup_frames = warmup_frames
        self._ignore = ignore
        self._ignored: np.ndarray | None = None  # at the small copy's size
        self._background: np.ndarray | None = None
        self._seen = 0

    def update(self, frame: np.ndarray) -> Motion | None:
        """Feed the next frame (grayscale, or BGR): the motion if it differs from the recent past
        (or during warm-up), else None."""
        # Every n-th pixel first (a view, free), then an area average down to `width`: a third of
        # the cost of averaging the full frame (0.3 against 0.9 ms at 720p), as good for motion.
        step = max(1, frame.shape[1] // (2 * self.width))
        sampled = frame[::step, ::step]
        height, width = sampled.shape[:2]
        small_height = max(1, round(height * self.width / width))
        small = cv2.resize(sampled, (self.width, small_height), interpolation=cv2.INTER_AREA)
        if small.ndim == 3:
            small = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
        gray = cv2.GaussianBlur(small, (5, 5), 0)
        if self._background is None or self._background.shape != gray.shape:
            # First frame, or the source changed resolution: nothing to compare with yet, so report
            # motion and let a face that is already there be found.
            self._background = gray.astype(np.float32)
            self._ignored = self._ignore(gray.shape[::-1]) if self._ignore else None
            self._seen = 1
            return Motion(None)
        self._seen += 1
        diff = cv2.absdiff(gray, cv2.convertScaleAbs(self._background))
        _, mask = cv2.threshold(diff, self.threshold, 255, cv2.THRESH_BINARY)
        if self._ignored is not None:
            mask[self._ignored > 0] = 0
        moving = cv2.countNonZero(mask) >= self.min_area * mask.size
        cv2.accumulateWeighted(gray, self._background, self.alpha)
        if self._seen <= self.warmup_frames:
            return Motion(None)
        if moving:
            return Motion(self._moving_region(mask, frame.shape[1], frame.shape[0]))
        return None

    def _moving_region(self, mask: np.ndarray, width: int, height: int) -> Region | None:
        """The box around every blob of change, in frame pixels, specks left out: a speck (two
        mask pixels across, 16 frame pixels at 1280 wide: noise, a glint) is smaller than any
        face the detectors can find, and would stretch the box across the frame. Change made
        only of specks is reported as everywhere (None)."""
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        found: Region | None = None
        for contour in contours:
            blob = Region(*(int(v) for v in cv2.boundingRect(contour)))
            if blob.w <= _SPECK and blob.h <= _SPECK:
                continue
            found = blob if found is None else found.union(blob)
        if found is None:
            return None
        sx, sy = width / mask.shape[1], height / mask.shape[0]
        x, y = int(found.x * sx), int(found.y * sy)
        right = min(width, int((found.x + found.w) * sx + 0.999))
        bottom = min(height, int((found.y + found.h) * sy + 0.999))
        return Region(x, y, right - x, bottom - y)
