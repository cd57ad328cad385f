"""Annotation draws in place: a green outline where the box is, a label in the corner."""

import numpy as np

from detection.annotate import BOX_COLOR, draw_boxes, draw_overlay
from detection.detectors import Box


def test_draw_boxes_outlines_each_box_in_place(grass_frame: np.ndarray):
    frame = grass_frame.copy()
    draw_boxes(frame, [Box(200, 150, 100, 120, 0.93), Box(700, 300, 60, 60, 0.5)])
    for x, y, w, h in ((200, 150, 100, 120), (700, 300, 60, 60)):
        # Left and right edges, top and bottom edges, are all the box colour.
        assert (frame[y + 10 : y + h - 10, x] == BOX_COLOR).all()
        assert (frame[y + 10 : y + h - 10, x + w - 1] == BOX_COLOR).all()
        assert (frame[y, x + 10 : x + w - 10] == BOX_COLOR).all()
        assert (frame[y + h - 1, x + 10 : x + w - 10] == BOX_COLOR).all()
        # The face inside is left alone.
        inner = (slice(y + 10, y + h - 10), slice(x + 10, x + w - 10))
        assert (frame[inner] == grass_frame[inner]).all()


def test_draw_boxes_writes_the_score(grass_frame: np.ndarray):
    frame = grass_frame.copy()
    draw_boxes(frame, [Box(200, 150, 100, 120, 0.93)])
    above = (slice(120, 145), slice(200, 260))
    assert (frame[above] != grass_frame[above]).any()


def test_a_box_at_the_top_edge_is_labelled_inside(grass_frame: np.ndarray):
    frame = grass_frame.copy()
    draw_boxes(frame, [Box(200, 0, 100, 120, 0.93)])
    assert (frame[0, 210:290] == BOX_COLOR).all()


def test_overlay_labels_the_top_left_corner_only(grass_frame: np.ndarray):
    frame = grass_frame.copy()
    draw_overlay(frame, "Front door", 1_700_000_000.0)
    corner = (slice(0, 20), slice(0, 200))
    assert (frame[corner] != grass_frame[corner]).any()
    rest = (slice(100, None), slice(None))
    assert (frame[rest] == grass_frame[rest]).all()
