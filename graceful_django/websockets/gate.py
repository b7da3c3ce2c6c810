"""Holding the consumers' `disconnect` back until every close frame of the shutdown is out.

uvicorn hands a consumer its `websocket.disconnect` the moment its close frame is written,
so while the shutdown writes 10,000 frames in batches the `disconnect`s of the first
batches run between the later ones: at 10,000 sockets the last frame then left after
every `disconnect` had run, twice as late as the frames alone take. A graceful
consumer waits here instead (in `dispatch`, before its `disconnect`) while the close
frames go out; the gate then lets the waiting ones through a batch at a time, so the loop
keeps serving the rest (the other clients, the remaining handshakes) meanwhile.
"""

from __future__ import annotations

import asyncio

from .delivery import each_in_batches


class Gate:
    """Open, except while `hold()` is in force; `release()` lets the waiters through."""

    def __init__(self) -> None:
        self._held = False
        self._waiting: list[asyncio.Future[None]] = []

    def hold(self) -> None:
        self._held = True

    async def passage(self) -> None:
        """Return at once when open; else once `release()` reached this caller's turn."""
        if not self._held:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        await waiter  # a cancelled waiter (the consumer was stopped) is skipped by release

    async def release(self) -> None:
        """Open, letting the waiters through in arrival order, a batch per turn of the loop.

        Once open no one waits any more, so those waiting now are all there will be."""
        self._held = False
        waiting, self._waiting = self._waiting, []
        await each_in_batches(waiting, _let_through)


def _let_through(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)
