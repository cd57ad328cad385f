"""Boxes and the camera label: drawn by ffmpeg on the published video, by OpenCV on snapshots.

The published video (annotated mode) is drawn by the camera's ffmpeg: a fixed set of drawbox and
drawtext filters (MAX_BOXES of each, parked off the picture) that Python moves through ffmpeg's
zmq filter whenever a detection finishes (BoxOverlay). Snapshots and MJPEG previews are frames
Python already holds; draw_boxes/draw_overlay mark them the same way.
"""

import logging
import os
import tempfile
import time
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path

import cv2
import numpy as np
import zmq

from .detectors import Box
from .logfmt import kv

log = logging.getLogger("skylark.detection")

BOX_COLOR = (0, 255, 0)  # BGR green: a face that counts
_FFMPEG_COLOR = "0x00FF00"
IGNORED_COLOR = (0, 170, 255)  # BGR amber: outside every zone, or inside a mask
_FFMPEG_IGNORED_COLOR = "0xFFAA00"
_FONT = cv2.FONT_HERSHEY_SIMPLEX
# Faces drawn on the published video; more are detected, alerted and stored, but not drawn.
MAX_BOXES = 8
_PARKED = -10000  # a box drawn here is off every picture: drawbox and drawtext skip it
FONT_FILE = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def line_width(width: int) -> int:
    return max(2, width // 480)


def font_px(height: int) -> int:
    return max(12, height // 36)


def draw_boxes(
    frame: np.ndarray,
    boxes: Iterable[Box],
    color: tuple[int, int, int] = BOX_COLOR,
    labels: dict[Box, str] | None = None,
) -> None:
    """A rectangle per face with its score above it (inside, when the box touches the top), or
    the label given for that box (a recognised person's name, "unknown")."""
    thickness = line_width(frame.shape[1])
    font_scale = max(0.4, frame.shape[1] / 1600)
    for box in boxes:
        top_left = (box.x, box.y)
        bottom_right = (box.x + box.w - 1, box.y + box.h - 1)
        cv2.rectangle(frame, top_left, bottom_right, color, thickness)
        label = (labels or {}).get(box) or f"{box.score:.2f}"
        (_, text_h), _ = cv2.getTextSize(label, _FONT, font_scale, 1)
        text_y = (
            box.y - thickness - 2
            if box.y - thickness - 2 >= text_h
            else box.y + text_h + thickness + 2
        )
        cv2.putText(frame, label, (box.x, text_y), _FONT, font_scale, color, 1, cv2.LINE_AA)


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


def write_label_file(directory: Path, name: str) -> Path:
    """The name/time overlay's text as a drawtext textfile: the camera's name is shown as typed
    (a textfile needs no filtergraph quoting), the clock expanded by ffmpeg on every frame."""
    escaped = name.replace("\\", "\\\\").replace("%", "\\%")
    path = directory / "label.txt"
    path.write_text(f"{escaped}  %{{localtime:%Y-%m-%d %H\\:%M\\:%S}}", encoding="utf-8")
    return path


def overlay_filters(zmq_address: str, label_file: Path, size: tuple[int, int]) -> str:
    """The filter chain that draws the label and MAX_BOXES movable boxes with their scores."""
    width, height = size
    font = f"fontfile={FONT_FILE}:" if FONT_FILE.exists() else ""
    fontsize = font_px(height)
    parts = [f"zmq=bind_address={_escape(zmq_address)}"]
    for i in range(MAX_BOXES):
        parts.append(
            f"drawbox@box{i}=x={_PARKED}:y={_PARKED}:w=1:h=1:"
            f"color={_FFMPEG_COLOR}:t={line_width(width)}"
        )
        parts.append(
            f"drawtext@score{i}={font}text=' ':x={_PARKED}:y={_PARKED}:"
            f"fontsize={fontsize}:fontcolor={_FFMPEG_COLOR}"
        )
    parts.append(
        f"drawtext@label={font}textfile={_escape(str(label_file))}:expansion=normal:"
        f"x={fontsize // 3}:y={fontsize // 3}:fontsize={fontsize}:fontcolor=white:"
        f"box=1:boxcolor=black:boxborderw={max(3, fontsize // 3)}"
    )
    return ",".join(parts)


def box_commands(
    boxes: Sequence[Box], size: tuple[int, int], ignored: Sequence[Box] = ()
) -> list[str]:
    """zmq-filter commands that move the drawn boxes to `boxes` (green) and then `ignored`
    (amber), and park the rest."""
    _, height = size
    fontsize = font_px(height)
    shown = [(box, _FFMPEG_COLOR) for box in boxes] + [(b, _FFMPEG_IGNORED_COLOR) for b in ignored]
    commands = []
    for i in range(MAX_BOXES):
        color = _FFMPEG_COLOR
        if i < len(shown):
            box, color = shown[i]
            x, y, w, h = box.x, box.y, box.w, box.h
            label_y = box.y - fontsize - 4 if box.y - fontsize - 4 >= 0 else box.y + box.h + 4
            text = f"text={box.score:.2f}:x={box.x}:y={label_y}:fontcolor={color}"
        else:
            x = y = _PARKED
            w = h = 1
            text = f"text=' ':x={_PARKED}:y={_PARKED}"
        commands += [
            f"drawbox@box{i} x {x}",
            f"drawbox@box{i} y {y}",
            f"drawbox@box{i} w {w}",
            f"drawbox@box{i} h {h}",
            f"drawbox@box{i} color {color}",
            f"drawtext@score{i} reinit {text}",
        ]
    return commands


def _escape(value: str) -> str:
    """A path as a filter option value inside a filtergraph: escaped for the option parser
    (':' and '\\'), then quoted for the graph parser. Only paths Skylark made come here."""
    if "'" in value:
        raise ValueError(f"a quote in a filter path: {value!r}")
    return "'" + value.replace("\\", "\\\\").replace(":", "\\:") + "'"


class BoxOverlay:
    """One session's link to its ffmpeg's zmq filter. Sending never blocks: commands wait in
    ZeroMQ's queue until ffmpeg's filter takes them, on the next frame it draws; its replies are
    read and dropped."""

    def __init__(self, workdir: Path) -> None:
        self.address = f"ipc://{workdir}/zmq-{uuid.uuid4().hex[:8]}"
        self._context: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
        self._socket = self._context.socket(zmq.DEALER)
        self._socket.setsockopt(zmq.LINGER, 0)
        self._socket.setsockopt(zmq.SNDHWM, 10 * 6 * MAX_BOXES)
        self._socket.connect(self.address)
        self._last: tuple[list[Box], list[Box]] | None = None

    def show(
        self, boxes: Sequence[Box], size: tuple[int, int], ignored: Sequence[Box] = ()
    ) -> None:
        shown = (list(boxes), list(ignored))
        if shown == self._last:
            return
        self._last = shown
        self._drain()
        for command in box_commands(boxes, size, ignored):
            try:
                # A REP socket (ffmpeg's) wants each request after an empty delimiter frame.
                self._socket.send_multipart([b"", command.encode()], zmq.NOBLOCK)
            except zmq.Again:
                log.warning(kv(event="overlay_queue_full", dropped=command))
                self._last = None  # resend everything next time
                return

    def close(self) -> None:
        self._socket.close(linger=0)

    def _drain(self) -> None:
        while True:
            try:
                self._socket.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return


def session_dir(camera_id: int) -> Path:
    """A private directory for one camera loop's label file and zmq socket."""
    return Path(tempfile.mkdtemp(prefix=f"skylark-cam{camera_id}-{os.getpid()}-"))
