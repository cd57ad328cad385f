"""Zones and masks: which faces count, and where motion is not looked for."""

import numpy as np

from detection.detectors import Box
from detection.motion import MotionDetector
from detection.zones import Zones

SIZE = (1280, 720)
LEFT_HALF = ((0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0))
TRIANGLE = ((0.6, 0.1), (0.95, 0.1), (0.6, 0.9))
LEFT_FACE = Box(200, 300, 80, 80, 0.9)  # centre (240, 340): in the left half
RIGHT_FACE = Box(900, 300, 80, 80, 0.9)  # centre (940, 340): in the triangle? x 0.73, y 0.47


def test_without_zones_or_masks_every_face_counts():
    assert Zones().split([LEFT_FACE, RIGHT_FACE], SIZE) == ([LEFT_FACE, RIGHT_FACE], [])


def test_with_zones_only_faces_centred_in_one_count():
    assert Zones(zones=(LEFT_HALF,)).split([LEFT_FACE, RIGHT_FACE], SIZE) == (
        [LEFT_FACE],
        [RIGHT_FACE],
    )


def test_a_polygon_that_is_not_a_rectangle():
    # (0.73, 0.47) lies inside the triangle (its hypotenuse at y=0.47 is at x≈0.79).
    assert Zones(zones=(TRIANGLE,)).split([RIGHT_FACE], SIZE) == ([RIGHT_FACE], [])
    outside = Box(1180, 600, 60, 60, 0.9)  # (0.945, 0.875): right of the hypotenuse
    assert Zones(zones=(TRIANGLE,)).split([outside], SIZE) == ([], [outside])


def test_a_mask_wins_over_a_zone():
    zones = Zones(zones=(LEFT_HALF,), masks=(((0.1, 0.3), (0.3, 0.3), (0.3, 0.7), (0.1, 0.7)),))
    assert zones.split([LEFT_FACE], SIZE) == ([], [LEFT_FACE])


def test_motion_inside_a_mask_is_not_motion(grass_frame, face_frame):
    # A mask over the whole pasted portrait (512x512 at 400,100) and a margin for the blur.
    mask = ((300 / 1280, 0.0), (1012 / 1280, 0.0), (1012 / 1280, 1.0), (300 / 1280, 1.0))
    for zones, moves in ((Zones(), True), (Zones(masks=(mask,)), False)):
        motion = MotionDetector(ignore=zones.mask_image)
        for _ in range(10):
            motion.update(grass_frame)
        assert (motion.update(face_frame) is not None) is moves
    assert Zones(masks=(mask,)).mask_image((160, 90))[45, 80] == 255


def test_the_mask_image_is_at_the_asked_size():
    image = Zones(masks=(LEFT_HALF,)).mask_image((200, 100))
    assert image is not None and image.shape == (100, 200)
    assert image[:, :95].all() and not image[:, 105:].any()
    assert Zones(zones=(LEFT_HALF,)).mask_image((200, 100)) is None
    assert isinstance(image, np.ndarray)
