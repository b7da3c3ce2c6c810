"""Saying what the ASGI `websocket.*` messages cannot say to daphne.

daphne hands a `websocket.close` to autobahn's `sendClose`, which accepts only 1000 and
3000-4999 (1001 or 1012 raise inside daphne and leave the socket open) and drops the
reason; and it refuses a handshake only with a 403. The `send` callable daphne gives the
application is `functools.partial(server.handle_reply, protocol)`, so the protocol is at
hand: its `sendCloseFrame` sends any code with a reason (daphne itself uses it for 1011),
and its handshake can be denied with a 503.

uvicorn needs none of this: it takes any code and reason in `websocket.close`, and
answers a handshake with any HTTP response through the `websocket.http.response` extension.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol, cast

from .. import refusal
from ..core.validation import is_whole_number
from ..servers.lost import LostWatch

MAX_REASON_BYTES = 123  # a close frame's payload is at most 125 bytes, 2 of them the code

_RESERVED_CODES = frozenset({1004, 1005, 1006, 1015})
# How long a refused handshake's application waits for uvicorn to report the connection gone.
REFUSAL_LOSS_WAIT = 1.0


class Labelled(Protocol):
    @property
    def label(self) -> str: ...


def is_sendable_close_code(code: object) -> bool:
    """A code a server may put in a close frame: registered 1000-1014 or application 3000-4999."""
    if not is_whole_number(code):
        return False
    return (1000 <= code <= 1014 and code not in _RESERVED_CODES) or 3000 <= code <= 4999


def encode_reason(reason: str) -> bytes:
    """UTF-8, cut to what a close frame can hold without splitting a character."""
    return reason.encode("utf-8")[:MAX_REASON_BYTES].decode("utf-8", "ignore").encode("utf-8")


def daphne_protocol(send: Any) -> Any | None:
    """daphne's WebSocketProtocol behind an ASGI `send`, or None under any other server."""
    if isinstance(send, functools.partial) and send.args:
        protocol = send.args[0]
        if hasattr(protocol, "sendCloseFrame") and hasattr(protocol, "STATE_OPEN"):
            return protocol
    return None


def send_close_frame(
    protocol: Any, code: int, reason: str, *, bounded_elsewhere: bool = False
) -> bool:
    """Start the closing handshake; False when the socket is not open (any more).

    `bounded_elsewhere`: the wait for the client's close frame is bounded by the caller
    (the shutdown's GRACEFUL_WS_CLOSE_TIMEOUT), not by autobahn's own 1 s.
    """
    if protocol.state != protocol.STATE_OPEN:
        return False
    end_tcp_after_handshake(protocol)
    if bounded_elsewhere:
        protocol.closeHandshakeTimeout = 0
    payload = encode_reason(reason) if reason else None
    with _written_at_once(protocol.transport):
        protocol.sendCloseFrame(code=code, reasonUtf8=payload, isReply=False)
    return True


@contextlib.contextmanager
def _written_at_once(transport: Any) -> Iterator[None]:
    """Write to the socket now rather than at Twisted's next turn, while nothing is queued.

    Twisted buffers each write, registers the socket with the loop for writing, and writes
    and unregisters it on a later turn: two epoll calls and a turn of the loop per close
    frame, a fifth of daphne's time to the last of 10,000 frames. A close frame is a few
    bytes on a socket with nothing queued, so it is written the way asyncio's transports
    write: at once, and whatever the kernel did not take goes to Twisted's buffer. Only a
    plain TCP connection of Twisted's (TLS writes go through its own buffer).
    """
    if getattr(transport, "TLS", True) is not False or not hasattr(transport, "socket"):
        yield
        return

    def write(data: bytes) -> None:
        sent = 0
        if _nothing_buffered(transport):
            try:
                sent = transport.socket.send(data)
            except OSError:  # full, or gone: Twisted's own write handles both
                sent = 0
        if sent < len(data):
            type(transport).write(transport, data[sent:])

    transport.write = write
    try:
        yield
    finally:
        del transport.write


def _nothing_buffered(transport: Any) -> bool:
    return bool(
        transport.connected
        and not transport.disconnecting
        and not transport._writeDisconnected
        and not transport._tempDataBuffer
        and len(transport.dataBuffer) == transport.offset
    )


def end_tcp_after_handshake(protocol: Any) -> None:
    """Once the client answered our close frame, end TCP with a FIN (RFC 6455 7.1.1).

    autobahn's server aborts the connection there (a reset), which a browser reports as
    `wasClean == false` although both close frames went across.
    """
    original = protocol.dropConnection

    def drop_connection(abort: bool = False) -> None:
        original(abort=abort and not protocol.wasClean)

    protocol.dropConnection = drop_connection


def drop_connection(protocol: Any) -> None:
    """The client never answered our close frame: end its TCP connection now."""
    protocol.wasClean = False
    protocol.dropConnection(abort=True)


def deny_daphne_handshake(protocol: Any, status: int) -> bool:
    """Answer a pending handshake with `status`, as daphne's own `serverReject` does with 403."""
    deferred = getattr(protocol, "handshake_deferred", None)
    if deferred is None:
        return False
    from autobahn.websocket.types import ConnectionDeny

    del protocol.handshake_deferred
    deferred.errback(ConnectionDeny(code=status, reason="Service Unavailable"))  # type: ignore[no-untyped-call]
    protocol.server.protocol_disconnected(protocol)
    return True


async def refuse_handshake(scope: dict[str, Any], send: Any, retry_after: int) -> None:
    """Refuse a handshake that has not been accepted: HTTP 503 where the server allows it."""
    if "websocket.http.response" in (scope.get("extensions") or {}):
        # uvicorn's websockets-sansio logs a spurious "ASGI callable returned without
        # completing handshake" ERROR when the app returns before the connection is lost
        # (Kludex/uvicorn#3138). Its transport closes with the response's body and reports
        # the loss on a later turn of the loop: that loss is waited for.
        protocol = uvicorn_protocol(send)
        lost = None
        if protocol is not None and not protocol.transport.is_closing():
            lost = LostWatch([protocol], "connection_lost")
        await send(
            {
                "type": "websocket.http.response.start",
                "status": refusal.STATUS,
                "headers": refusal.refusal_headers(retry_after),
            }
        )
        await send({"type": "websocket.http.response.body", "body": refusal.WEBSOCKET_BODY})
        if lost is not None:
            await lost.wait(REFUSAL_LOSS_WAIT)
        return
    protocol = daphne_protocol(send)
    if protocol is not None and deny_daphne_handshake(protocol, refusal.STATUS):
        return
    # Any other server: a close before the accept is a refusal (most answer 403).
    await send({"type": "websocket.close", "code": 1013})


def tell_disconnected(protocol: Any, code: int) -> bool:
    """Hand a daphne application its `websocket.disconnect` now that our close frame is out.

    `protocol`: daphne's, as `daphne_protocol` found it.

    daphne tells the application only when TCP ends, after the client's answer was read
    and Twisted tore the connection down (a third of daphne's time at 10,000 sockets):
    every `disconnect` would then wait for every teardown before it. uvicorn tells it
    when the close frame is sent; so does this. daphne's own message at the TCP end then
    finds an application that has returned, and is never read.
    """
    queue = getattr(protocol, "application_queue", None)
    if queue is None or protocol.state != protocol.STATE_CLOSING:
        return False
    queue.put_nowait({"type": "websocket.disconnect", "code": code})
    return True


class ClosingHandshakes:
    """Both servers hand the app its `websocket.disconnect` before the client answered our
    close frame (uvicorn by itself, daphne through `tell_disconnected`), and the server's
    own shutdown (the next steps) would then end TCP at once, cutting the handshake. So the
    end of each TCP connection is watched, to wait for it (RFC 6455 7.1.1) within the
    step's share."""

    def __init__(self, sends: list[tuple[Labelled, Any]]) -> None:
        """`sends`: (whose label names it, the ASGI send the server gave the app) of each
        websocket; the labels are read only for the connections cut."""
        self._owner: dict[Any, Labelled] = {}
        self._cut: dict[Any, Callable[[], None]] = {}
        # The method each server calls once the connection is gone.
        watched: dict[str, list[Any]] = {"connection_lost": [], "connectionLost": []}
        for owner, send in sends:
            protocol = uvicorn_protocol(send)
            if protocol is not None:
                if not protocol.transport.is_closing():
                    watched["connection_lost"].append(protocol)
                    self._cut[protocol] = protocol.transport.abort
            else:
                protocol = daphne_protocol(send)
                if protocol is None or not getattr(protocol.transport, "connected", False):
                    continue
                watched["connectionLost"].append(protocol)
                self._cut[protocol] = functools.partial(drop_connection, protocol)
            self._owner[protocol] = owner
        self._watches = [LostWatch(found, method) for method, found in watched.items() if found]

    def open(self) -> int:
        """How many of the watched connections are still open."""
        return sum(len(watch.pending) for watch in self._watches)

    async def wait(self, timeout: float) -> list[str]:
        """Wait until every watched connection ended; end and name those left after `timeout`."""
        ends = time.monotonic() + timeout
        left: list[Any] = []
        for watch in self._watches:
            left.extend(await watch.wait(max(0.0, ends - time.monotonic())))
        for protocol in left:
            self._cut[protocol]()
        return [self._owner[protocol].label for protocol in left]


def uvicorn_protocol(send: Any) -> Any | None:
    """uvicorn's websocket protocol behind an ASGI `send` (a bound method of it), or None."""
    protocol = getattr(send, "__self__", None)
    if protocol is not None and hasattr(protocol, "close_sent") and hasattr(protocol, "transport"):
        return protocol
    return None


def pause_reading(send: Any) -> Callable[[], None] | None:
    """Stop reading the client's bytes behind an ASGI `send`; returns what resumes it.

    For the shutdown's close frames: read meanwhile, the first clients' answers (and the
    `disconnect`s they set off) would take the loop from sending the rest, which at
    10,000 sockets multiplies the time to the last close frame. None: not possible here.
    """
    protocol = daphne_protocol(send)
    transport = protocol.transport if protocol is not None else None
    if transport is not None and hasattr(transport, "pauseProducing"):
        transport.pauseProducing()
        return cast("Callable[[], None]", transport.resumeProducing)
    protocol = uvicorn_protocol(send)
    transport = protocol.transport if protocol is not None else None
    # Duck-typed: uvloop's transports (uvicorn's default loop) are not asyncio.ReadTransport.
    if transport is not None and hasattr(transport, "is_reading") and transport.is_reading():
        transport.pause_reading()
        return cast("Callable[[], None]", transport.resume_reading)
    return None
