"""AlertPolicy: one alert per appearance, a new one for more faces, never two within the cooldown."""

import random

from detection.policy import AlertPolicy


def run(policy: AlertPolicy, observations: list[tuple[float, int]]) -> list[float]:
    """Feed (time, face count) pairs; the times at which alerts fired."""
    return [now for now, count in observations if policy.observe(now, count)]


def test_faces_appearing_alert_once_while_they_stay():
    observations = [(0.0, 0), (1.0, 1), (1.25, 1), (1.5, 1), (30.0, 1)]
    assert run(AlertPolicy(cooldown_s=10), observations) == [1.0]


def test_faces_back_after_a_full_cooldown_of_absence_alert_again():
    observations = [(0.0, 1), (1.0, 0), (5.0, 0), (11.0, 1)]
    assert run(AlertPolicy(cooldown_s=10), observations) == [0.0, 11.0]


def test_absence_is_counted_from_the_first_detection_without_faces():
    # Last seen with a face at 0, first seen without at 5: at 12 the absence is 7 s, not 12.
    observations = [(0.0, 1), (5.0, 0), (12.0, 1)]
    assert run(AlertPolicy(cooldown_s=10), observations) == [0.0]


def test_flicker_within_one_appearance_does_not_alert_again():
    observations = [(t * 0.25, (1 if int(t) % 2 == 0 else 0)) for t in range(200)]
    assert run(AlertPolicy(cooldown_s=2), observations) == [0.0]


def test_more_faces_during_an_appearance_alert():
    observations = [(0.0, 1), (20.0, 2), (21.0, 1), (40.0, 2), (50.0, 3)]
    assert run(AlertPolicy(cooldown_s=10), observations) == [0.0, 20.0, 50.0]


def test_a_count_rise_within_the_cooldown_waits_for_it_to_pass():
    observations = [(0.0, 1), (3.0, 2), (6.0, 2), (10.0, 2), (11.0, 2)]
    assert run(AlertPolicy(cooldown_s=10), observations) == [0.0, 10.0]


def test_no_faces_never_alerts():
    assert run(AlertPolicy(cooldown_s=0), [(t, 0) for t in range(100)]) == []


def test_zero_cooldown_alerts_on_every_appearance():
    observations = [(0.0, 1), (0.5, 0), (1.0, 1), (1.5, 1), (2.0, 0), (2.5, 1)]
    assert run(AlertPolicy(cooldown_s=0), observations) == [0.0, 1.0, 2.5]


def test_alerts_are_never_closer_than_the_cooldown():
    rng = random.Random(7)
    now, observations = 0.0, []
    for _ in range(5000):
        now += rng.choice([0.25, 0.5, 1.0, 5.0])
        observations.append((now, rng.choice([0, 0, 1, 1, 2, 3])))
    fired = run(AlertPolicy(cooldown_s=10), observations)
    assert len(fired) > 10
    assert all(later - earlier >= 10 for earlier, later in zip(fired, fired[1:], strict=False))
