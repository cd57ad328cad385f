"""Draws face boxes and a camera label onto a frame, in place (no full-frame copies)."""

import time
from collections.abc import Iterable

import cv2
import numpy as np

from .detectors import Box

BOX_COLOR = (0, 255, 0)  # BGR green
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def draw_boxes(frame: np.ndarray, boxes: Iterable[Box]) -> None:
    """A rectangle per face with its score above it (inside, when the box touches the top)."""
    thickness = max(2, frame.shape[1] // 480)
    font_scale = max(0.4, frame.shape[1] / 1600)
    for box in boxes:
        top_left = (box.x, box.y)
        bottom_right = (box.x + box.w - 1, box.y + box.h - 1)
        cv2.rectangle(frame, top_left, bottom_right, BOX_COLOR, thickness)
        label = f"{box.score:.2f}"
        (_, text_h), _ = cv2.getTextSize(label, _FONT, font_scale, 1)
        text_y = (
            box.y - thickness - 2
            if box.y - thickness - 2 >= text_h
            else box.y + text_h + thickness + 2
        )
        cv2.putText(frame, label, (box.x, text_y), _FONT, font_scale, BOX_COLOR, 1, cv2.LINE_AA)


def draw_overlay(frame: np.ndarray, name: str, now: float) -> None:
    """Camera name and local time, white on a black band in the top-left corner."""
    text = f"{name}  {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(now))}"
    font_scale = max(0.4, frame.shape[0] / 1200)
    (text_w, text_h), baseline = cv2.getTextSize(text, _FONT, font_scale, 1)
    pad = max(3, text_h // 3)
    cv2.rectangle(
        frame, (0, 0), (text_w + 2 * pad, text_h + baseline + 2 * pad), (0, 0, 0), cv2.FILLED
    )
    cv2.putText(
        frame, text, (pad, pad + text_h), _FONT, font_scale, (255, 255, 255), 1, cv2.LINE_AA
    )
