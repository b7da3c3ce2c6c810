"""The adapter contract, and the fallback for servers we have no adapter for."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..core.deadline import Deadline
    from ..core.tracker import Ticket


# Kept from the deadline by `close_connections`, so that the clients that stopped reading
# are named and cut by us, not by the watchdog, which knows nothing of them.
CLOSE_RESERVE = 0.25
# How long an idle keep-alive connection must have been idle before the last step closes it.
# Its client may be about to send on it, and is not told otherwise until the close: 2 s is
# gunicorn's keep-alive, the shortest a server's own idle timeout commonly is, so closing
# then is no more of a race than the server's normal expiry. 0.5 s was too short on a busy
# host: a gunicorn SIGHUP boots new workers on every core, and a client starved that long
# sent its next request into the close (a reset, in CI).
IDLE_GRACE = 2.0


async def let_idle_clients_settle(youngest_idle: float | None, deadline: Deadline) -> None:
    """Until every idle connection has been idle IDLE_GRACE seconds (within the deadline).

    A connection whose last response left a moment ago, without `Connection: close`, may
    have its client's next request on the way: closing it now would reset that request
    (a proxy does not retry a POST it sent). A request that arrives meanwhile is served,
    with `Connection: close`. A grace by design: nothing tells that a client will not send.
    It costs time only where a client left a fresh connection open and walked away.
    """
    if youngest_idle is None or youngest_idle >= IDLE_GRACE:
        return
    await asyncio.sleep(
        min(IDLE_GRACE - youngest_idle, deadline.share(None, reserve=CLOSE_RESERVE))
    )


class ServerAdapter:
    name = "unknown"
    # uvicorn closes every websocket with 1012 the moment it stops accepting, so under it
    # our own close (code, reason, last message) has to come first.
    close_websockets_before_stop_accepting = False
    # The signal that started the shutdown, for adapters that hand it on.
    signum: int = signal.SIGTERM

    def watch(self, on_shutdown: Callable[[], object]) -> None:
        """Once armed: call `on_shutdown` when the server is told to stop other than by a
        signal to this process (hypercorn's workers hear it from their master)."""

    def stop_accepting(self) -> None:
        """Close the listening sockets, after accepting what the kernel already completed;
        open connections stay open (a request on one is served, with Connection: close) until
        `close_connections`."""

    def listening_addresses(self) -> list[str]:
        """ "host:port" of each listening socket, from the server's own objects; [] if unknown."""
        return []

    def admitted_ticket(self, send: Any) -> Ticket | None:
        """A request the server admitted before the drain but hands to the app only now."""
        return None

    async def close_connections(self, deadline: Deadline) -> list[str]:
        """The last step: close the connections the server keeps; the names of those cut."""
        return []

    async def finish(self, exit_code: int) -> None:
        """Let the server exit; called once the whole sequence is over."""


class GenericAdapter(ServerAdapter):
    """Any other ASGI server: run our sequence, then hand the signal to its own handler."""

    name = "generic"

    def __init__(self, previous_handler: Any = None) -> None:
        self.previous_handler = previous_handler

    async def finish(self, exit_code: int) -> None:
        handler = self.previous_handler
        if callable(handler):
            handler(self.signum, None)
        elif handler == signal.SIG_DFL or handler is None:
            os._exit(exit_code)
