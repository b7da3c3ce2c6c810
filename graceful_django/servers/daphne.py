"""Driving daphne (Twisted's asyncio reactor) through a graceful shutdown.

daphne cancels every application instance in a "before shutdown" trigger and drops every
connection in the "during" phase, so the reactor must not be stopped until our sequence
is over. Twisted installs its own SIGTERM/SIGINT handlers while the reactor starts (they
call `reactor.stop()`); ours are installed from `callWhenRunning`, after Twisted's.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import Any

from .base import ServerAdapter


def running_under_daphne() -> bool:
    return "daphne.server" in sys.modules and "twisted.internet.reactor" in sys.modules


class DaphneAdapter(ServerAdapter):
    name = "daphne"

    def __init__(self) -> None:
        from twisted.internet import reactor

        self.reactor: Any = reactor

    def when_running(self, callback: Callable[[asyncio.AbstractEventLoop], None]) -> None:
        self.reactor.callWhenRunning(lambda: callback(self.reactor._asyncioEventloop))

    def _connections(self) -> list[Any]:
        from twisted.internet import tcp

        selectables = set(self.reactor.getReaders()) | set(self.reactor.getWriters())
        return [s for s in selectables if isinstance(s, tcp.Server)]

    def listening_addresses(self) -> list[str]:
        from twisted.internet import tcp

        addresses = []
        for reader in list(self.reactor.getReaders()):
            if isinstance(reader, tcp.Port):
                host = reader.getHost()  # type: ignore[no-untyped-call]
                addresses.append(f"{host.host}:{host.port}")
        return addresses

    def stop_accepting(self) -> None:
        from twisted.internet import tcp
        from twisted.web.http import HTTPChannel

        for selectable in list(self.reactor.getReaders()):
            if isinstance(selectable, tcp.Port):
                # Connections the kernel completed but Twisted has not accepted yet would be
                # reset when the socket closes; accept them first, so that their requests
                # get a clear 503 instead of a dropped connection.
                selectable.doRead()  # type: ignore[no-untyped-call]
                selectable.stopListening()  # type: ignore[no-untyped-call]
        for transport in self._connections():
            channel = getattr(transport.protocol, "_channel", None)
            if not isinstance(channel, HTTPChannel):
                continue  # websockets are closed by their own step
            # Twisted decides keep-alive from the request alone; this makes it close the
            # connection after the response in progress instead of waiting for another.
            channel.persistent = False
            if not channel.requests:
                transport.loseConnection()

    async def finish(self, exit_code: int) -> None:
        # loseConnection() only closes once the buffered response bytes are written;
        # stopping the reactor before that would drop them ("during shutdown" disconnects).
        for transport in self._connections():
            transport.loseConnection()
        await self._wait_connections_closed(timeout=1.0)
        self.reactor.stop()

    async def _wait_connections_closed(self, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        remaining = self._connections()
        if not remaining:
            return
        all_closed = loop.create_future()
        pending = set(remaining)

        def watch(transport: Any) -> None:
            original = transport.connectionLost

            def connection_lost(reason: Any) -> None:
                original(reason)
                pending.discard(transport)
                if not pending and not all_closed.done():
                    all_closed.set_result(None)

            transport.connectionLost = connection_lost

        for transport in remaining:
            watch(transport)
        try:
            await asyncio.wait_for(all_closed, timeout)
        except TimeoutError:
            pass  # the reactor's own shutdown drops whatever is left
