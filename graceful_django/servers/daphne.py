"""Driving daphne (Twisted's asyncio reactor) through a graceful shutdown.

daphne cancels every application instance in a "before shutdown" trigger and drops every
connection in the "during" phase, so the reactor must not be stopped until our sequence
is over and every connection is closed (`close_connections`, the last step). Twisted
installs its own SIGTERM/SIGINT handlers while the reactor starts (they call
`reactor.stop()`); ours are installed from `callWhenRunning`, after Twisted's.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from ..core.deadline import Deadline
from ..core.tracker import Ticket, Tracker
from . import twisted_connections as connections
from .base import CLOSE_RESERVE, ServerAdapter, let_idle_clients_settle
from .detect import DAPHNE_LOADERS, loaded_by

logger = logging.getLogger("graceful_django")


def running_under_daphne() -> bool:
    """daphne's CLI or runserver is loading the application (not just imported: see detect)."""
    return loaded_by(DAPHNE_LOADERS)


class DaphneAdapter(ServerAdapter):
    name = "daphne"

    def __init__(self, requests: Tracker | None = None) -> None:
        from twisted.internet import reactor

        self.reactor: Any = reactor
        self.requests = requests

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

        for selectable in list(self.reactor.getReaders()):
            if isinstance(selectable, tcp.Port):
                connections.accept_pending_then_close(selectable)
        # Idle and kept-alive connections stay open while the drain lasts: a client may be
        # sending on them right now, and the request is served (Connection: close) rather than an
        # EOF. A response already under way keeps its connection open too: it may have
        # left without `Connection: close`, so its client may send another request.
        if self.requests is not None:
            for transport in self._connections():
                channel = connections.http_channel(transport)
                if channel is not None:
                    connections.admit_uploads(channel, self.requests)

    def admitted_ticket(self, send: Any) -> Ticket | None:
        # daphne's `send` is functools.partial(server.handle_reply, request).
        args = getattr(send, "args", ())
        return connections.admitted_ticket(args[0]) if args else None

    async def close_connections(self, deadline: Deadline) -> list[str]:
        youngest = connections.youngest_idle(self._connections(), self.reactor.seconds())
        await let_idle_clients_settle(youngest, deadline)
        transports = self._connections()
        abandoned = [t for t in transports if connections.close_when_idle(t)]
        left = await connections.wait_closed(
            transports, deadline.share(None, reserve=CLOSE_RESERVE), cut=abandoned
        )
        if not left:
            return []
        names = [connections.describe(transport) for transport in left]
        logger.warning(
            "cutting %d connections whose clients did not read their responses in time: %s",
            len(left),
            "; ".join(names),
        )
        for transport in left:
            transport.abortConnection()
        return names

    async def finish(self, exit_code: int) -> None:
        self._replace_kill_all_applications()
        self.reactor.stop()

    def _replace_kill_all_applications(self) -> None:
        """daphne's trigger raises KeyError for a connection with no application (yet, or
        any more) and then waits without a limit; by now our sequence waited for what it
        had to, so this only cancels what is left, bounded by the watchdog."""
        event: Any = getattr(self.reactor, "_eventTriggers", {}).get("shutdown")
        triggers: list[Any] = getattr(event, "before", [])
        for index, (trigger, _args, _kwargs) in enumerate(triggers):
            server = getattr(trigger, "__self__", None)
            if getattr(trigger, "__name__", "") == "kill_all_applications" and server:
                triggers[index] = (_cancel_applications_of, (server,), {})


def _cancel_applications_of(server: Any) -> Any:
    from twisted.internet import defer

    instances = [
        instance
        for details in server.connections.values()
        if (instance := details.get("application_instance")) is not None and not instance.done()
    ]
    for instance in instances:
        instance.cancel()
    if instances:
        logger.info("cancelled %d application instances left at exit", len(instances))
    return defer.Deferred.fromFuture(asyncio.gather(*instances, return_exceptions=True))
