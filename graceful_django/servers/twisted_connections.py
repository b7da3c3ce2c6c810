"""The connections of daphne's Twisted reactor at shutdown: accepted, answered, then closed.

Three things Twisted does not do for us:

- Closing a listening socket resets the connections the kernel completed but nobody
  accepted yet; they are accepted first, in the same turn as the close.
- An idle HTTP/1.1 connection closed under a client may meet the request that client is
  sending: the connection stays open while the drain lasts (its next request gets the
  response says `Connection: close`), and when it must close, whatever request is
  already in the socket's buffer is read and answered first.
- `reactor.stop()` drops every connection whose response is still in Twisted's buffer
  (daphne writes a whole `HttpResponse` at once, without back-pressure); closing waits
  for those to be written out, up to the deadline, then names the clients that stopped
  reading.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from ..core.tracker import Ticket, Tracker
from .lost import wait_lost

logger = logging.getLogger("graceful_django")

TICKET_ATTRIBUTE = "_graceful_django_ticket"


def accept_pending_then_close(port: Any) -> None:
    """Stop listening without resetting the connections waiting in the kernel's backlog."""
    original = port.connectionLost

    def connection_lost(reason: Any) -> None:
        # stopListening() closes the socket on the reactor's next turn; accepting right
        # before that leaves no gap in which the kernel completes a connection we reset.
        _accept_all(port)
        original(reason)

    port.connectionLost = connection_lost
    _accept_all(port)
    port.stopListening()


def _accept_all(port: Any) -> None:
    """Accept every connection the kernel completed, not only as many as last time.

    Twisted's Port accepts at most `numberAccepts` per turn and sets it to what it
    accepted the turn before (often 1 under steady traffic): the others would still be in
    the backlog when the socket closes, and the kernel resets them.
    """
    port.numberAccepts = max(port.numberAccepts, ACCEPT_ALL)
    port.doRead()


# More than any listen backlog (the kernel caps it at net.core.somaxconn, 4096 here);
# accepting stops as soon as none is left.
ACCEPT_ALL = 65536


def http_channel(transport: Any) -> Any | None:
    """The HTTPChannel behind a transport, None once it became a websocket (or anything else)."""
    channel = getattr(transport.protocol, "_channel", None)
    return channel if isinstance(channel, _http_channel_class()) else None


@functools.cache
def _http_channel_class() -> type:
    # Looked up once: twisted.web.http is wrapped in Twisted's deprecation proxy, whose
    # attribute lookup is slow Python (a tenth of a second for 10,000 websockets).
    from twisted.web.http import HTTPChannel

    return HTTPChannel


def admit_uploads(channel: Any, tracker: Tracker) -> None:
    """Requests whose body is still arriving: daphne makes their application only at its end.

    They were admitted before the drain began, so the drain waits for them and the
    wrapper serves them (`admitted_ticket`) rather than refusing them.
    """
    for request in channel.requests:
        if getattr(request, "application_queue", None) is not None or request.finished:
            continue
        if getattr(request, TICKET_ATTRIBUTE, None) is not None:
            continue
        method = getattr(channel, "_command", b"").decode("latin-1")
        path = getattr(channel, "_path", b"").decode("latin-1")
        ticket = tracker.open(f"{method} {path} (body still arriving)")
        setattr(request, TICKET_ATTRIBUTE, ticket)
        _close_ticket_on_loss(request, tracker, ticket)


def _close_ticket_on_loss(request: Any, tracker: Tracker, ticket: Ticket) -> None:
    original = request.connectionLost

    def connection_lost(reason: Any) -> None:
        tracker.close(ticket)  # the client gave up before its body was complete
        original(reason)

    request.connectionLost = connection_lost


def admitted_ticket(request: Any) -> Ticket | None:
    """The ticket `admit_uploads` gave this daphne request, taken once."""
    ticket: Ticket | None = getattr(request, TICKET_ATTRIBUTE, None)
    if ticket is not None:
        setattr(request, TICKET_ATTRIBUTE, None)
    return ticket


def youngest_idle(transports: list[Any], now: float) -> float | None:
    """Seconds since the last data on the most recently active idle HTTP connection.

    Twisted's HTTPChannel resets its timeout call on every chunk received: its time, less
    the timeout, is the channel's last activity (its request's, a little before its
    response's end).
    """
    ages = []
    for transport in transports:
        channel = http_channel(transport)
        if channel is None or channel.requests:
            continue
        call = getattr(channel, "_TimeoutMixin__timeoutCall", None)
        if call is not None and call.active() and channel.timeOut:
            ages.append(now - (call.getTime() - channel.timeOut))
    return min(ages, default=None)


def close_when_idle(transport: Any) -> bool:
    """Close now if nothing is asked of this connection, else right after its last response.

    True when its responses will never finish (see `abandoned`): the caller cuts it, once
    it watches for the connection's loss (Twisted takes `connectionLost` at the cut).
    """
    channel = http_channel(transport)
    if channel is None:
        transport.loseConnection()  # websockets had their closing handshake already
        return False
    if transport.connected and not transport.disconnecting:
        # A request already in the socket's buffer is read now, and served.
        transport.doRead()
    original = channel.requestDone

    def request_done(request: Any) -> None:
        original(request)
        if not channel.requests and transport.connected:
            channel.loseConnection()

    channel.requestDone = request_done
    if channel.requests and all(map(abandoned, channel.requests)):
        return True
    if not channel.requests and not getattr(channel, "_buffer", b""):
        # The channel's, not the transport's: the channel is the transport's registered
        # producer, and a transport with a producer never closes (its response stays
        # buffered until the reactor stops and drops it).
        channel.loseConnection()
    return False


def abandoned(request: Any) -> bool:
    """A daphne request whose application is over although its response is not finished.

    An application that raises after its response started (a streaming body that fails)
    gets daphne's 500 page, which cannot be sent any more; daphne then leaves the client
    waiting for the rest, and the connection open, without a limit.
    """
    details = getattr(getattr(request, "server", None), "connections", {}).get(request)
    if details is None or getattr(request, "application_queue", None) is None:
        return False  # no application yet (its body is still uploading)
    instance = details.get("application_instance")  # reaped by daphne once it is done
    return (instance is None or instance.done()) and not getattr(request, "finished", True)


def unsent_bytes(transport: Any) -> int:
    buffered = len(getattr(transport, "dataBuffer", b"")) - getattr(transport, "offset", 0)
    return buffered + getattr(transport, "_tempDataLen", 0)


def describe(transport: Any) -> str:
    peer = transport.getPeer()
    name = f"{getattr(peer, 'host', peer)}:{getattr(peer, 'port', '')}"
    unsent = unsent_bytes(transport)
    if unsent:
        return f"{name} ({unsent / 1e6:.1f} MB of its response not read)"
    return name


def cut_abandoned(transports: list[Any]) -> None:
    """Nothing will ever finish their responses: waiting would only hold the shutdown until
    the deadline. Cut, so that each client sees an error rather than a silent end."""
    for transport in transports:
        logger.warning(
            "cutting %s: its application ended without finishing the response it had started",
            describe(transport),
        )
        transport.abortConnection()


async def wait_closed(
    transports: list[Any], timeout: float, cut: list[Any] | None = None
) -> list[Any]:
    """Wait, woken by each connectionLost, until all are closed; those left after `timeout`.

    `cut` are cut once they are watched (an abort takes `connectionLost` at once)."""
    connected = [transport for transport in transports if transport.connected]
    pending = await wait_lost(
        connected, "connectionLost", timeout, then=lambda: cut_abandoned(cut or [])
    )
    return [transport for transport in transports if transport in pending]
