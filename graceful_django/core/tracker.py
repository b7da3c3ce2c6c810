"""A thread-safe set of things in flight (requests, websockets, tasks) that can be waited on.

Knows nothing of Django. Sync views run in worker threads and async code runs on the
event loop, so opening and closing happen from any thread; waiters are woken by the
close that empties the set, never by polling.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(eq=False, slots=True)  # one per request and websocket: no __dict__ each
class Ticket:
    """One tracked piece of work; `str(label)` is what the logs name when it is forced (an
    object whose `__str__` builds the name saves a string per websocket)."""

    id: int
    label: object
    started: float = field(default_factory=time.monotonic)
    closed: bool = False

    def age(self) -> float:
        return time.monotonic() - self.started


class Tracker:
    """Counts open tickets and wakes sync and async waiters when none is left."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._ids = itertools.count(1)
        self._open: dict[int, Ticket] = {}
        self._condition = threading.Condition()
        self._async_waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self.total_opened = 0
        # Called with +1 / -1 on every open / close (metrics); must be cheap and not raise.
        self.observers: list[Callable[[int], None]] = []

    def open(self, label: object) -> Ticket:
        ticket = Ticket(next(self._ids), label)
        with self._condition:
            self._open[ticket.id] = ticket
            self.total_opened += 1
        for observer in self.observers:
            observer(1)
        return ticket

    def close(self, ticket: Ticket) -> None:
        """Idempotent: a streaming response may be closed both by its iterator and by Django."""
        with self._condition:
            if ticket.closed:
                return
            ticket.closed = True
            self._open.pop(ticket.id, None)
            waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
            if not self._open:
                self._condition.notify_all()
                waiters, self._async_waiters = self._async_waiters, []
        for observer in self.observers:
            observer(-1)
        for loop, future in waiters:
            loop.call_soon_threadsafe(_resolve, future)

    def __len__(self) -> int:
        return len(self._open)

    def snapshot(self) -> list[Ticket]:
        with self._condition:
            return sorted(self._open.values(), key=lambda ticket: ticket.started)

    def labels(self) -> list[str]:
        return [f"{ticket.label} ({ticket.age():.1f}s)" for ticket in self.snapshot()]

    def wait_empty_blocking(self, timeout: float | None) -> bool:
        with self._condition:
            return self._condition.wait_for(lambda: not self._open, timeout)

    async def wait_empty(self, timeout: float | None) -> bool:
        """True once nothing is open; False if `timeout` seconds pass first."""
        loop = asyncio.get_running_loop()
        with self._condition:
            if not self._open:
                return True
            future: asyncio.Future[None] = loop.create_future()
            self._async_waiters.append((loop, future))
        try:
            await asyncio.wait_for(asyncio.shield(future), timeout)
        except TimeoutError:
            return False
        finally:
            with self._condition:
                if (loop, future) in self._async_waiters:
                    self._async_waiters.remove((loop, future))
        return True


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
