"""Exponential retry delays with jitter, shared by the camera feed and the publisher."""

import random


class Backoff:
    """initial, 2x, 4x ... up to cap, each spread by ±jitter so many cameras don't retry in step."""

    def __init__(self, initial: float = 1.0, cap: float = 30.0, jitter: float = 0.2) -> None:
        self.initial = initial
        self.cap = cap
        self.jitter = jitter
        self._attempt = 0

    def next_delay(self) -> float:
        base = min(self.cap, self.initial * 2.0**self._attempt)
        self._attempt += 1
        return min(self.cap, base * (1.0 + self.jitter * (2.0 * random.random() - 1.0)))

    def reset(self) -> None:
        self._attempt = 0
