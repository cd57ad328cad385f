"""Where on a camera faces count: zones (if any, only faces whose centre is inside one raise
alerts) and masks (faces and motion inside one are ignored: a TV, a poster, a busy street).

Polygons are in fractions of the frame (0..1), so they hold at any resolution and for the
sub-stream alike.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:  # detectors imports the config, which holds Zones
    from .detectors import Box

Point = tuple[float, float]
Polygon = tuple[Point, ...]


@dataclass(frozen=True)
class Zones:
    zones: tuple[Polygon, ...] = ()
    masks: tuple[Polygon, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.zones or self.masks)

    def split(
        self, boxes: Sequence["Box"], size: tuple[int, int]
    ) -> tuple[list["Box"], list["Box"]]:
        """(counted, ignored): the faces that may raise alerts, and those outside every zone or
        inside a mask, shown in another colour so users see why no alert came."""
        if not self:
            return list(boxes), []
        counted: list[Box] = []
        ignored: list[Box] = []
        for box in boxes:
            (counted if self._counts(box, size) else ignored).append(box)
        return counted, ignored

    def _counts(self, box: "Box", size: tuple[int, int]) -> bool:
        width, height = size
        centre = ((box.x + box.w / 2) / width, (box.y + box.h / 2) / height)
        if any(_inside(centre, mask) for mask in self.masks):
            return False
        return not self.zones or any(_inside(centre, zone) for zone in self.zones)

    def mask_image(self, size: tuple[int, int]) -> np.ndarray | None:
        """255 where a mask is, 0 elsewhere, at `size` (width, height); None without masks."""
        if not self.masks:
            return None
        width, height = size
        image = np.zeros((height, width), np.uint8)
        polygons = [
            np.array([[round(x * width), round(y * height)] for x, y in mask], np.int32)
            for mask in self.masks
        ]
        cv2.fillPoly(image, polygons, 255)
        return image


def _inside(point: Point, polygon: Polygon) -> bool:
    """Even-odd rule: does a ray from `point` cross the polygon's edges an odd number of times."""
    x, y = point
    inside = False
    for (x1, y1), (x2, y2) in zip(polygon, polygon[1:] + polygon[:1], strict=True):
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside
