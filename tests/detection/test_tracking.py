"""Tracker: one alert per person coming into view, whoever else stays in view."""

import random

from detection.detectors import Box
from detection.tracking import Tracker

RESIDENT = Box(900, 300, 60, 60, 0.9)  # a face that never leaves (someone at a desk, a poster)
VISITOR = Box(400, 200, 90, 90, 0.9)


def started(tracker: Tracker, observations: list[tuple[float, list[Box]]]) -> list[float]:
    """Feed (time, boxes) detections; the times at which tracks started (alerts)."""
    times = []
    for now, boxes in observations:
        times += [now] * len(tracker.update(now, boxes).started)
    return times


def moved(box: Box, dx: int, dy: int = 0) -> Box:
    return box._replace(x=box.x + dx, y=box.y + dy)


def test_a_face_that_stays_alerts_once():
    observations = [(t * 0.5, [RESIDENT]) for t in range(200)]
    assert started(Tracker(cooldown_s=10), observations) == [0.0]


def test_each_visit_alerts_once_while_another_face_stays_in_view():
    # The visitor comes for 5 s every 30 s, three times; the resident never leaves. The count of
    # faces never beats its earlier best, and still every visit raises its alert.
    observations = []
    for step in range(200):
        now = step * 0.5
        visiting = any(start <= now < start + 5 for start in (10, 40, 70))
        observations.append((now, [RESIDENT, VISITOR] if visiting else [RESIDENT]))
    assert started(Tracker(cooldown_s=10), observations) == [0.0, 10.0, 40.0, 70.0]


def test_missed_detections_within_the_cooldown_do_not_alert_again():
    rng = random.Random(3)
    observations = [(t * 0.5, [VISITOR] if rng.random() < 0.6 else []) for t in range(1, 400)]
    first = next(now for now, boxes in observations if boxes)
    assert started(Tracker(cooldown_s=5), observations) == [first]


def test_a_face_back_after_the_cooldown_is_a_new_appearance():
    observations = [(0.0, [VISITOR]), (1.0, []), (9.0, []), (11.5, [VISITOR])]
    assert started(Tracker(cooldown_s=10), observations) == [0.0, 11.5]


def test_a_walking_face_stays_one_track():
    # Half a face width a detection, and a missed detection on the way: one person, one alert.
    observations = [(t * 0.5, [moved(VISITOR, 45 * t, 5 * t)]) for t in range(12)]
    del observations[5]
    assert started(Tracker(cooldown_s=10), observations) == [0.0]


def test_two_faces_coming_into_view_together_start_two_tracks():
    tracker = Tracker(cooldown_s=10)
    update = tracker.update(0.0, [RESIDENT, VISITOR])
    assert {track.box for track in update.started} == {RESIDENT, VISITOR}
    assert tracker.update(0.5, [VISITOR, RESIDENT]).started == []


def test_a_face_far_from_every_track_is_someone_else():
    tracker = Tracker(cooldown_s=10)
    tracker.update(0.0, [VISITOR])
    assert len(tracker.update(0.5, [moved(VISITOR, 500)]).started) == 1


def test_a_still_face_becomes_stationary_and_its_comings_and_goings_raise_nothing():
    tracker = Tracker(cooldown_s=10, stationary_after_s=60)
    for step in range(121):  # 60 s in view, unmoved (detector jitter of a pixel or two)
        update = tracker.update(step * 0.5, [moved(RESIDENT, step % 3 - 1)])
    assert [t.id for t in update.stationary] == [1]
    assert tracker.tracks[0].stationary
    # Out of sight for 40 s (longer than the cooldown), then there again: nothing new.
    assert tracker.update(100.0, [RESIDENT]).started == []
    # Once it moves it is no longer stationary; gone past the cooldown, it is a new appearance.
    tracker.update(100.5, [moved(RESIDENT, 40)])
    assert not tracker.tracks[0].stationary
    assert len(tracker.update(120.0, [moved(RESIDENT, 40)]).started) == 1
