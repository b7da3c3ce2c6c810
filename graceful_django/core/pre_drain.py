"""The pre-drain delay: readiness already fails, requests are still served, then the drain proper.

When it ends, load balancers are taken to have stopped sending: the server stops taking new
connections where it can, and what still reaches the process is served with `Connection:
close` (or refused with a 503, in "refuse" mode: `refuse_at_end`).

Started once per drain by whoever comes first: `manage.py drain` (a Kubernetes preStop
hook) or the signal's shutdown. The one that comes second only waits for what is left of
it, so a SIGTERM that arrives during a drain's delay neither starts it again nor cuts it
short. Knows nothing of Django; runs on the server's event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable

from .coordinator import Coordinator

logger = logging.getLogger("graceful_django")


class PreDrain:
    def __init__(
        self, coordinator: Coordinator, refuse_at_end: Callable[[], bool] = lambda: True
    ) -> None:
        self.coordinator = coordinator
        self.refuse_at_end = refuse_at_end
        self.ends_at: float | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._over: asyncio.Future[None] | None = None

    @property
    def running(self) -> bool:
        return self._timer is not None

    def remaining(self) -> float:
        """Seconds until the delay is over; 0 when no delay runs."""
        if self.ends_at is None or not self.running:
            return 0.0
        return max(0.0, self.ends_at - time.monotonic())

    def start(self, seconds: float) -> bool:
        """End the delay in `seconds` (readiness must already fail); True if it started now.

        A delay already running keeps its end; `seconds <= 0` ends it at once. A value that
        is not a finite number ends it at once: a bad setting must never hold up a drain.
        """
        if self.coordinator.delay_over:
            logger.info("pre-drain delay: over already")
            return False
        if not (seconds > 0 and math.isfinite(seconds)):
            if self.running:
                logger.info("pre-drain delay: cut short, %.1fs before its end", self.remaining())
            self._end()
            return False
        if self.running:
            logger.info("pre-drain delay: %.1fs left of the one already running", self.remaining())
            return False
        logger.info("pre-drain delay: serving %gs more, then the drain proper", seconds)
        loop = asyncio.get_running_loop()
        self.ends_at = time.monotonic() + seconds
        self._over = loop.create_future()
        # A delay by design, not a poll: nothing signals that load balancers caught up.
        self._timer = loop.call_later(seconds, self._end)
        return True

    def _end(self) -> None:
        self._stop_timer()
        self.coordinator.end_delay(refuse=self.refuse_at_end())

    def cancel(self) -> None:
        """An undrain: the delay stops, and the drain proper never begins."""
        self._stop_timer()

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._over is not None and not self._over.done():
            self._over.set_result(None)

    async def wait(self, limit: float) -> None:
        """Until a running delay is over, at most `limit` seconds."""
        if self._over is None or self._over.done():
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._over), limit)
