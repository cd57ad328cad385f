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
