"""Closing an asyncio listener without losing a connection it already accepted."""

from __future__ import annotations

import asyncio
from asyncio.base_events import Server


def close_listener(listener: asyncio.AbstractServer) -> None:
    """Stop `listener` accepting now, and close it once what it accepted is attached.

    asyncio's own Server (hypercorn, uvicorn on `--loop asyncio`) accepts in a reader
    callback and builds each connection's transport in a task of its own, on a later turn
    of the loop. A Server closed in between fails that task's `Server._attach` assertion
    (CPython 3.11 to 3.13); the loop swallows the error and the accepted socket sits unserved
    until the process exits, which resets its client's request (one reset in two SIGHUP
    reloads of hypercorn -w 2 under load). So the accepting stops at once (the reader goes),
    and the close comes on the next turn, after those tasks, which were scheduled first.
    uvloop's servers attach in the accepting callback: they are closed at once.
    """
    if not isinstance(listener, Server):
        listener.close()
        return
    loop = listener.get_loop()
    for sock in listener.sockets:
        loop.remove_reader(sock.fileno())
    loop.call_soon(listener.close)
