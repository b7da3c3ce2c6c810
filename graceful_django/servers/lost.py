"""Waiting until connections are gone, woken by the last one: no server tells us otherwise.

Twisted's transports and uvicorn's protocols both learn it in one method (`connectionLost`,
`connection_lost`) that the event loop calls once; wrapping that method on each object is
the event to wait on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any


class LostWatch:
    """From now on, each of `connections` is watched for its `method` being called."""

    def __init__(self, connections: Iterable[Any], method: str) -> None:
        self.pending = set(connections)
        self._all_lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        for connection in self.pending:
            self._watch(connection, method)

    def _watch(self, connection: Any, method: str) -> None:
        original = getattr(connection, method)

        def lost(*args: Any) -> None:
            original(*args)
            self.pending.discard(connection)
            if not self.pending and not self._all_lost.done():
                self._all_lost.set_result(None)

        setattr(connection, method, lost)

    async def wait(self, timeout: float) -> set[Any]:
        """Until every one is gone, at most `timeout` seconds; those still open then."""
        if self.pending:
            try:
                await asyncio.wait_for(asyncio.shield(self._all_lost), timeout)
            except TimeoutError:
                pass
        return set(self.pending)


async def wait_lost(
    connections: Iterable[Any],
    method: str,
    timeout: float,
    then: Callable[[], None] | None = None,
) -> set[Any]:
    """Until each of `connections` had its `method` called, at most `timeout` seconds; those
    still open then. `then` runs once every one is watched (a cut calls `method` at once)."""
    watch = LostWatch(connections, method)
    if then is not None:
        then()
    return await watch.wait(timeout)
