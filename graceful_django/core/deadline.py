"""The one shutdown deadline, and the shares of it that each step may use."""

from __future__ import annotations

import time


class Deadline:
    """A point in monotonic time; every step asks it how long it may still take."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.started = time.monotonic()
        self.at = self.started + seconds

    def remaining(self) -> float:
        return max(0.0, self.at - time.monotonic())

    @property
    def expired(self) -> bool:
        return self.remaining() <= 0.0

    def share(self, limit: float | None, reserve: float = 0.0) -> float:
        """A step's own limit, never past what is left of the deadline less `reserve`
        (kept for the steps after it)."""
        left = max(0.0, self.remaining() - reserve)
        if limit is None:
            return left
        return min(limit, left)
