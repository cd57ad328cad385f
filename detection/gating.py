"""Motion gating, as NVRs do it: when the face detector runs, and where it looks.

The configured rate while something moves (and for a tail after); the keepalive rate while faces
stand still in view, to follow them; and when the view is empty and still, nothing changed where
a face could appear, so only a slow idle check (a guard against a change too gradual for the
motion detector). While the scene moves, the detector looks only around what moved.
"""

import functools
from collections import deque

import numpy as np

from .config import PipelineConfig
from .detectors import Box
from .motion import MotionDetector
from .regions import Region

# A search region that grew past this share of the frame saves little: then the whole frame.
_WHOLE_FRAME_SHARE = 0.5


def region_of(box: Box) -> Region:
    return Region(box.x, box.y, box.w, box.h)


class MotionGate:
    """Feed it every analysis frame (interval); ask it where to look when a detection is due."""

    def __init__(self, config: PipelineConfig) -> None:
        self.config = config
        zones = config.zones
        self._motion = MotionDetector(ignore=zones.mask_image) if config.motion_gating else None
        # (time, where) of every frame with motion within the last motion_tail_s; where is None
        # when the motion detector could not place it (warm-up, a new frame size).
        self._recent: deque[tuple[float, Region | None]] = deque()

    def interval(self, gray: np.ndarray, t: float, faces: list[Box]) -> float:
        """Seconds between detections from this frame on; `faces` are those in view now."""
        config = self.config
        if self._motion is None:
            return config.interval_ms / 1000
        recent = self._recent
        if motion := self._motion.update(gray):
            recent.append((t, motion.region))
        while recent and t - recent[0][0] > config.motion_tail_s:
            recent.popleft()
        if recent:
            return config.interval_ms / 1000
        if faces:
            return config.keepalive_interval_ms / 1000
        return config.idle_interval_ms / 1000

    def search_region(self, width: int, height: int, faces: list[Box]) -> Region | None:
        """Where the next detection looks: around what moved within the motion tail (None: the
        whole frame).

        Only while the scene moves: keepalive and idle checks, and motion the detector could not
        place, search the whole frame. A face the search touches is searched whole, so a face
        that merely turned is found again rather than lost; every other face found before stays,
        since nothing moved there.
        """
        moved: list[Region] = []
        for _, where in self._recent:
            if where is None:  # motion the detector could not place
                return None
            moved.append(where)
        if not moved:
            return None
        search = functools.reduce(Region.union, moved)
        # A face that comes into view moves whole; the margin is for the blur of the motion mask.
        margin = 2 * self.config.min_face_size
        region = _with_faces_touching(search.expanded(margin, width, height), faces)
        if region.area > _WHOLE_FRAME_SHARE * width * height:
            return None
        return region


def _with_faces_touching(region: Region, faces: list[Box]) -> Region:
    """region grown until every face is wholly inside it or wholly outside."""
    face_regions = [region_of(box) for box in faces]
    while True:
        grown = region
        for face in face_regions:
            if face.intersects(grown):
                grown = grown.union(face)
        if grown == region:
            return region
        region = grown
