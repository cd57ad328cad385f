"""Rectangles of a frame in its pixels: where motion was seen, and where to look for faces."""

from typing import NamedTuple


class Region(NamedTuple):
    x: int
    y: int
    w: int
    h: int

    @property
    def area(self) -> int:
        return self.w * self.h

    def union(self, other: "Region") -> "Region":
        x, y = min(self.x, other.x), min(self.y, other.y)
        right = max(self.x + self.w, other.x + other.w)
        bottom = max(self.y + self.h, other.y + other.h)
        return Region(x, y, right - x, bottom - y)

    def intersects(self, other: "Region") -> bool:
        return (
            self.x < other.x + other.w
            and other.x < self.x + self.w
            and self.y < other.y + other.h
            and other.y < self.y + self.h
        )

    def expanded(self, margin: int, width: int, height: int) -> "Region":
        """Grown by margin on every side, clipped to a width x height frame."""
        x, y = max(0, self.x - margin), max(0, self.y - margin)
        right = min(width, self.x + self.w + margin)
        bottom = min(height, self.y + self.h + margin)
        return Region(x, y, right - x, bottom - y)
