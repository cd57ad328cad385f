"""MotionDetector: on at the start, off for a still scene, on when something appears."""

import numpy as np

from detection.motion import MotionDetector

from .conftest import FACE_BOX, PORTRAIT_AT


def test_motion_is_reported_for_the_first_frames(grass_frame: np.ndarray):
    motion = MotionDetector(warmup_frames=3)
    assert [bool(motion.update(grass_frame)) for _ in range(5)] == [True, True, True, False, False]


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


def test_the_motion_region_is_around_what_appeared_and_leaves_a_speck_out(grass_frame, face_frame):
    motion = MotionDetector()
    for _ in range(10):
        motion.update(grass_frame)
    # A face appears, and a glint (14 px, smaller than any face a detector finds) far from it.
    frame = face_frame.copy()
    frame[650:664, 1150:1164] = 255
    moved = motion.update(frame)
    assert moved is not None and moved.region is not None
    region = moved.region
    x, y, w, h = FACE_BOX
    assert region.x <= x and region.y <= y
    assert region.x + region.w >= x + w and region.y + region.h >= y + h
    # The pasted portrait (512x512 at PORTRAIT_AT) and a little blur around it, and no more: the
    # glint is not part of it.
    px, py = PORTRAIT_AT
    assert px - 32 <= region.x and py - 32 <= region.y
    assert region.x + region.w <= px + 512 + 32 and region.y + region.h <= py + 512 + 32


def test_no_region_while_still_or_warming_up(grass_frame):
    motion = MotionDetector(warmup_frames=3)
    first = motion.update(grass_frame)
    assert first is not None and first.region is None  # motion somewhere: unknown
    for _ in range(10):
        motion.update(grass_frame)
    assert motion.update(grass_frame) is None
