"""The server's own account of a drain: what it still waits for, logged as that changes.

Woken by the coordinator's changes and the trackers' open/close observers, never by a
poll, and only during a drain: outside one, the observer costs the request path one
attribute test. A line comes at most every LOG_INTERVAL seconds (a burst of requests
ending gives one line, not thousands); the last change is always logged, once the
interval has passed, and the moment no request is left is logged at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from ..conf import conf
from ..core.coordinator import Coordinator, Phase
from ..core.loops import call_soon_on
from ..core.pre_drain import PreDrain
from .wording import describe_oldest, oldest_requests, plural

logger = logging.getLogger("graceful_django")

LOG_INTERVAL = 2.0


class DrainLog:
    def __init__(
        self,
        coordinator: Coordinator,
        pre_drain: PreDrain,
        loop: asyncio.AbstractEventLoop,
        interval: float = LOG_INTERVAL,
    ) -> None:
        self.coordinator = coordinator
        self.pre_drain = pre_drain
        self.loop = loop
        self.interval = interval
        self.active = False
        self._pending = False
        self._timer: asyncio.TimerHandle | None = None
        self._logged: tuple[object, ...] | None = None
        self._logged_at = float("-inf")
        coordinator.on_change(lambda _: self._call_soon(self._phase_changed))
        for tracker in coordinator.trackers().values():
            tracker.observers.append(self._counted)

    def _counted(self, delta: int) -> None:
        # Any thread, every request: two attribute tests when no drain is on.
        if self.active and not self._pending:
            self._pending = True
            self._call_soon(self._changed)

    def _call_soon(self, callback: Callable[[], None]) -> None:
        call_soon_on(self.loop, callback)

    def _phase_changed(self) -> None:
        self.active = self.coordinator.phase is Phase.DRAINING
        if self.active:
            self._changed()
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._logged = None

    def _state(self) -> tuple[object, ...]:
        counts = self.coordinator.counts()
        return (
            self.coordinator.delay_over,
            self.coordinator.refusing,
            counts["requests"],
            counts["websockets"],
            counts["tasks"],
        )

    def _timer_fired(self) -> None:
        self._timer = None
        self._changed()

    def _changed(self) -> None:
        self._pending = False
        if not self.active:
            return
        state = self._state()
        if state == self._logged:
            return
        delay_over, requests = state[0], state[2]
        wait = self._logged_at + self.interval - time.monotonic()
        if wait > 0 and not (delay_over and requests == 0):
            if self._timer is None:
                self._timer = self.loop.call_later(wait, self._timer_fired)
            return
        self._logged, self._logged_at = state, time.monotonic()
        logger.info(self.describe())

    def describe(self) -> str:
        """`drain: refusing new work; waiting for 2 requests (oldest: GET /a 3.1s, ...); ...`."""
        coordinator, counts = self.coordinator, self.coordinator.counts()
        then = "refusing new work" if conf.refuses_when_draining else "the drain proper"
        if coordinator.refusing:
            head = "drain: refusing new work"
        elif coordinator.delay_over:
            head = "drain: serving what still arrives, with Connection: close"
        else:
            head = f"drain: serving {self.pre_drain.remaining():.1f}s more, then {then}"
        if counts["requests"]:
            oldest = describe_oldest(oldest_requests(coordinator.requests.snapshot()))
            waits = f"waiting for {plural(counts['requests'], 'request')} (oldest: {oldest})"
        else:
            waits = "no request left in flight"
        others = f"{plural(counts['websockets'], 'websocket')}, {plural(counts['tasks'], 'task')}"
        return f"{head}; {waits}; {others} open (not waited for)"
