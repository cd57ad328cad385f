"""Events-per-second over a sliding window (fps in, fps out), safe to tick and read from two threads."""

import threading
import time
from collections import deque


class RateMeter:
    def __init__(self, window_s: float = 2.0) -> None:
        self.window_s = window_s
        self._ticks: deque[float] = deque()
        self._started: float | None = None
        self._lock = threading.Lock()

    def tick(self) -> None:
        now = time.monotonic()
        with self._lock:
            if self._started is None:
                self._started = now
            self._ticks.append(now)
            self._prune(now)

    def rate(self) -> float:
        now = time.monotonic()
        with self._lock:
            self._prune(now)
            if self._started is None:
                return 0.0
            # Right after start the window is not full yet: divide by the time actually covered.
            span = min(self.window_s, now - self._started)
            return len(self._ticks) / span if span > 0.05 else 0.0

    def _prune(self, now: float) -> None:
        while self._ticks and self._ticks[0] < now - self.window_s:
            self._ticks.popleft()


class ProgressRate:
    """Frames and dropped frames from one ffmpeg's -progress reports (frame=, drop_frames=), and
    its frame rate over the last few reports (0 once they stop for 2 s).

    restart() for the next ffmpeg: its counters start again, the drops add up across runs.
    skip_first: the first report counts what queued up while ffmpeg probed its input, a burst
    rather than a rate; it is left out of the rate.
    """

    def __init__(self, skip_first: bool = False) -> None:
        self._skip_first = skip_first
        self._points: deque[tuple[float, int]] = deque(maxlen=5)
        self.frames = 0
        self._dropped_before = 0
        self._dropped = 0

    def restart(self) -> None:
        self._dropped_before += self._dropped
        self._dropped = 0
        self.frames = 0
        self._points.clear()

    def progress(self, line: str) -> None:
        """One `key=value` line of ffmpeg's -progress output; other keys are ignored."""
        key, _, value = line.partition("=")
        if key not in ("frame", "drop_frames"):
            return
        try:
            number = int(value)
        except ValueError:
            return
        if key == "drop_frames":
            self._dropped = number
            return
        if self.frames or not self._skip_first:
            self._points.append((time.monotonic(), number))
        self.frames = number

    @property
    def dropped(self) -> int:
        return self._dropped_before + self._dropped

    def rate(self) -> float:
        points = list(self._points)
        if len(points) < 2 or time.monotonic() - points[-1][0] > 2.0:
            return 0.0
        (t0, f0), (t1, f1) = points[0], points[-1]
        return (f1 - f0) / (t1 - t0) if t1 > t0 else 0.0
