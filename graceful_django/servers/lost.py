"""Waiting until connections are gone, woken by the last one: no server tells us otherwise.

Twisted's transports and uvicorn's protocols both learn it in one method (`connectionLost`,
`connection_lost`) that the event loop calls once; wrapping that method on each object is
the event to wait on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any


async def wait_lost(
    connections: Iterable[Any],
    method: str,
    timeout: float,
    then: Callable[[], None] | None = None,
) -> set[Any]:
    """Until each of `connections` had its `method` called, at most `timeout` seconds; those
    still open then. `then` runs once every one is watched (a cut calls `method` at once)."""
    pending = set(connections)
    all_lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def watch(connection: Any) -> None:
        original = getattr(connection, method)

        def lost(*args: Any) -> None:
            original(*args)
            pending.discard(connection)
            if not pending and not all_lost.done():
                all_lost.set_result(None)

        setattr(connection, method, lost)

    for connection in pending:
        watch(connection)
    if then is not None:
        then()
    if pending:
        try:
            await asyncio.wait_for(asyncio.shield(all_lost), timeout)
        except TimeoutError:
            pass
    return pending
