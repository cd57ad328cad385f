"""MotionDetector: on at the start, off for a still scene, on when something appears."""

import numpy as np

from detection.motion import MotionDetector


def test_motion_is_reported_for_the_first_frames(grass_frame: np.ndarray):
    motion = MotionDetector(warmup_frames=3)
    assert [motion.update(grass_frame) for _ in range(5)] == [True, True, True, False, False]


def test_a_still_scene_has_no_motion(grass_frame: np.ndarray):
    motion = MotionDetector()
    for _ in range(10):
        motion.update(grass_frame)
    assert not any(motion.update(grass_frame) for _ in range(20))


def test_a_person_appearing_is_motion_and_fades_once_still(grass_frame, face_frame):
    motion = MotionDetector()
    for _ in range(10):
        motion.update(grass_frame)
    assert motion.update(face_frame)
    # Standing still, the person becomes background within a few seconds at 15 fps.
    still = [motion.update(face_frame) for _ in range(75)]
    assert not any(still[-15:])


def test_a_resolution_change_counts_as_motion(grass_frame: np.ndarray):
    motion = MotionDetector()
    for _ in range(10):
        motion.update(grass_frame)
    assert motion.update(np.ascontiguousarray(grass_frame[:360, :640]))
