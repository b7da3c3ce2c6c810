"""granian's websocket `receive`, made to step aside for a close.

granian (2.8) sends a `websocket.close` only once no `receive()` is pending on the socket,
and Channels' consumers always have one pending (`await_many_dispatch`): the close frame
then waits for the client's next message, forever for a quiet client. Cancelling the
pending receive lets the close through; the application's next receive gets the
`websocket.disconnect`.
"""

from __future__ import annotations

import asyncio
from typing import Any


def is_granian_receive(receive: Any) -> bool:
    return type(getattr(receive, "__self__", None)).__module__.startswith("granian.")


class UnblockableReceive:
    """The `receive` the application sees under granian."""

    __slots__ = ("raw", "pending", "unblocking")

    def __init__(self, receive: Any) -> None:
        self.raw = receive
        self.pending: asyncio.Future[Any] | None = None
        self.unblocking = False

    async def __call__(self) -> Any:
        while True:
            self.pending = asyncio.ensure_future(self.raw())
            try:
                return await self.pending
            except asyncio.CancelledError:
                if not self.unblocking:
                    raise  # the application's own task was cancelled
                self.unblocking = False

    def unblock(self) -> None:
        if self.pending is not None and not self.pending.done():
            self.unblocking = True
            self.pending.cancel()
