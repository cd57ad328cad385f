"""When detections become alerts: faces are followed from one detection to the next as tracks,
and each new track (a person coming into view) raises one alert.

A face found near where a track was last seen (within a distance that grows with the time since)
continues that track. A track not seen for the cooldown ends; the same face seen again after
that is a new appearance. A face that has not moved for `stationary_after_s` (a face on a poster,
someone asleep at a desk) is marked stationary, as NVRs do with parked cars, and its track is
kept until it has been gone that long, so its comings and goings raise nothing. Pure: the caller
passes the time.
"""

import itertools
import math
from dataclasses import dataclass

from .detectors import Box

# A face continues a track when its centre is within this many face widths of the track's, plus
# _REACH_PER_S widths for each second since the track was last seen (someone walking on while the
# detector missed them), at most _MAX_REACH.
_REACH = 1.0
_REACH_PER_S = 2.0
_MAX_REACH = 4.0
# ... and when it is no more than twice as large or small.
_MAX_SCALE = 2.0
# A face that moves less than this share of its width, and changes size less, stands still.
_STILL = 0.25


@dataclass
class Track:
    id: int
    box: Box  # where it was last seen
    first_seen: float
    last_seen: float
    anchor: Box  # where it stood when it last moved
    still_since: float
    stationary: bool = False


@dataclass(frozen=True)
class TrackUpdate:
    started: list[Track]  # new faces in view: each raises one alert
    stationary: list[Track]  # tracks that have just been still for stationary_after_s


class Tracker:
    def __init__(self, cooldown_s: float, stationary_after_s: float = 600.0) -> None:
        self.cooldown_s = cooldown_s
        self.stationary_after_s = stationary_after_s
        self.tracks: list[Track] = []
        self._ids = itertools.count(1)

    def update(self, now: float, boxes: list[Box]) -> TrackUpdate:
        """One detection's faces, at monotonic time `now`."""
        self.tracks = [t for t in self.tracks if now - t.last_seen <= self._memory(t)]
        unmatched = list(range(len(boxes)))
        stationary = []
        for track, index in self._match(now, boxes):
            unmatched.remove(index)
            was_stationary = track.stationary
            self._seen(track, boxes[index], now)
            if track.stationary and not was_stationary:
                stationary.append(track)
        started = [self._start(boxes[index], now) for index in unmatched]
        self.tracks.extend(started)
        return TrackUpdate(started, stationary)

    def _memory(self, track: Track) -> float:
        """How long a track outlives its face's absence."""
        return (
            max(self.cooldown_s, self.stationary_after_s) if track.stationary else self.cooldown_s
        )

    def _match(self, now: float, boxes: list[Box]) -> list[tuple[Track, int]]:
        """Pairs (track, box index), the closest first, each track and box at most once."""
        candidates = []
        for track in self.tracks:
            reach = min(_MAX_REACH, _REACH + _REACH_PER_S * (now - track.last_seen))
            for index, box in enumerate(boxes):
                distance = _distance(track.box, box)
                if distance <= reach and _scale(track.box, box) <= _MAX_SCALE:
                    candidates.append((distance, track.id, index, track))
        pairs: list[tuple[Track, int]] = []
        used_tracks: set[int] = set()
        used_boxes: set[int] = set()
        for _, track_id, index, track in sorted(candidates, key=lambda c: c[:3]):
            if track_id not in used_tracks and index not in used_boxes:
                used_tracks.add(track_id)
                used_boxes.add(index)
                pairs.append((track, index))
        return pairs

    def _seen(self, track: Track, box: Box, now: float) -> None:
        track.box = box
        track.last_seen = now
        if _distance(track.anchor, box) > _STILL or _scale(track.anchor, box) > 1 + _STILL:
            track.anchor = box
            track.still_since = now
            track.stationary = False
        elif now - track.still_since >= self.stationary_after_s:
            track.stationary = True

    def _start(self, box: Box, now: float) -> Track:
        return Track(next(self._ids), box, now, now, box, now)


def _distance(a: Box, b: Box) -> float:
    """Distance between the centres, in widths of the larger face."""
    dx = (a.x + a.w / 2) - (b.x + b.w / 2)
    dy = (a.y + a.h / 2) - (b.y + b.h / 2)
    return math.hypot(dx, dy) / max(a.w, b.w, 1)


def _scale(a: Box, b: Box) -> float:
    """How many times larger the larger face is."""
    return max(a.w, b.w, 1) / max(min(a.w, b.w), 1)
