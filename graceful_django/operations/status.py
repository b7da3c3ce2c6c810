"""What one server process reports about itself, and a feed that pushes each change.

Both control channels (the local socket and the fleet listener) answer with
`process_status()` and stream `StatusFeed.watch()`. The feed is woken by the
coordinator's phase changes and by the trackers' open/close observers (coalesced to at
most one wake-up per loop turn, and only while somebody watches), so the request path
pays one attribute test when nobody is watching. A status carries the ages of the oldest
requests, so while any is in flight the heartbeat pushes one a second too.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import AsyncGenerator, Callable
from typing import Any

from ..conf import conf
from ..core.coordinator import Coordinator
from ..core.loops import call_soon_on
from ..core.pre_drain import PreDrain
from ..servers.base import ServerAdapter
from .wording import oldest_requests

# A safety net only: every change we know of wakes the feed at once.
HEARTBEAT = 1.0


def is_drained(status: dict[str, Any]) -> bool:
    """No longer ready, past the pre-drain delay, no HTTP request in flight.

    Websockets and background tasks are reported but not waited for: they are long-lived
    by nature, and the shutdown that follows closes them properly (close frame, cancel).
    """
    return bool(not status["ready"] and status["delay_over"] and status["requests"] == 0)


def process_status(
    coordinator: Coordinator,
    adapter: ServerAdapter | None,
    extras: dict[str, Callable[[], Any]] | None = None,
    pre_drain: PreDrain | None = None,
) -> dict[str, Any]:
    timeout = conf.GRACEFUL_TIMEOUT
    status: dict[str, Any] = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "server": adapter.name if adapter is not None else "unknown",
        "phase": coordinator.phase.value,
        "ready": coordinator.ready,
        "live": coordinator.live,
        # Past the pre-drain delay: what still arrives is served with Connection: close.
        "delay_over": coordinator.delay_over,
        "refusing": coordinator.refusing,
        "shutting_down": coordinator.shutting_down,
        **coordinator.counts(),
        # Seconds of the pre-drain delay left: requests are still served until then.
        "refusing_in": round(pre_drain.remaining(), 1) if pre_drain is not None else 0.0,
        "oldest": oldest_requests(coordinator.requests.snapshot()),
        "listening": adapter.listening_addresses() if adapter is not None else [],
        "timeout": float(timeout) if isinstance(timeout, (int, float)) else None,
    }
    status["drained"] = is_drained(status)
    for name, extra in (extras or {}).items():
        status[name] = extra()
    return status


class StatusFeed:
    def __init__(
        self,
        coordinator: Coordinator,
        adapter: ServerAdapter | None,
        loop: asyncio.AbstractEventLoop,
        pre_drain: PreDrain | None = None,
    ) -> None:
        self.coordinator = coordinator
        self.pre_drain = pre_drain or PreDrain(coordinator)
        self.adapter = adapter
        self.loop = loop
        self.started = time.time()
        # Added to every status by other services (the fleet listener's rejected messages).
        self.extras: dict[str, Callable[[], Any]] = {}
        # Called on the loop after each phase change (the state file is rewritten then).
        self.phase_listeners: list[Callable[[], None]] = []
        self._wakeup = asyncio.Event()
        self._watchers = 0
        self._wake_pending = False
        coordinator.on_change(self._phase_changed)
        for tracker in coordinator.trackers().values():
            tracker.observers.append(self._counted)

    def status(self) -> dict[str, Any]:
        return process_status(self.coordinator, self.adapter, self.extras, self.pre_drain)

    def _counted(self, delta: int) -> None:
        # Any thread, every request: keep it to two attribute tests when idle.
        if self._watchers and not self._wake_pending:
            self._wake_pending = True
            self._call_soon(self._wake)

    def _phase_changed(self, coordinator: Coordinator) -> None:
        self._call_soon(self._after_phase_change)

    def _call_soon(self, callback: Callable[[], None]) -> None:
        call_soon_on(self.loop, callback)

    def _after_phase_change(self) -> None:
        for listener in list(self.phase_listeners):
            listener()
        self._wake()

    def _wake(self) -> None:
        self._wake_pending = False
        event, self._wakeup = self._wakeup, asyncio.Event()
        event.set()

    async def watch(self) -> AsyncGenerator[dict[str, Any], None]:
        """The status now, then again after every change (never the same one twice)."""
        self._watchers += 1
        try:
            last: dict[str, Any] | None = None
            while True:
                # Taken before reading the status, so a change in between is not lost.
                event = self._wakeup
                current = self.status()
                if current != last:
                    yield current
                    last = current
                try:
                    await asyncio.wait_for(event.wait(), HEARTBEAT)
                except TimeoutError:
                    pass
        finally:
            self._watchers -= 1
