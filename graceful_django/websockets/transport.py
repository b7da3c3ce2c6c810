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

import asyncio
import functools
from collections.abc import Callable
from typing import Any, cast

from .. import refusal
from ..core.validation import is_whole_number

MAX_REASON_BYTES = 123  # a close frame's payload is at most 125 bytes, 2 of them the code

_RESERVED_CODES = frozenset({1004, 1005, 1006, 1015})


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
    protocol.sendCloseFrame(code=code, reasonUtf8=payload, isReply=False)
    return True


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
        await send(
            {
                "type": "websocket.http.response.start",
                "status": refusal.STATUS,
                "headers": refusal.refusal_headers(retry_after),
            }
        )
        await send({"type": "websocket.http.response.body", "body": refusal.WEBSOCKET_BODY})
        # uvicorn's websockets-sansio logs a spurious "ASGI callable returned without
        # completing handshake" ERROR when the app returns before the connection is lost
        # (Kludex/uvicorn#3138). Its transport was just closed and reports the loss on the
        # loop's next turn; yielding once lets that happen first.
        await asyncio.sleep(0)
        return
    protocol = daphne_protocol(send)
    if protocol is not None and deny_daphne_handshake(protocol, refusal.STATUS):
        return
    # Any other server: a close before the accept is a refusal (most answer 403).
    await send({"type": "websocket.close", "code": 1013})


class ClosingHandshakes:
    """uvicorn's websocket protocol hands the app its `websocket.disconnect` as soon as our
    close frame is sent, before the client answered; and uvicorn's own shutdown (the next
    step) would then end TCP at once, cutting the handshake. So the end of each TCP
    connection is watched, to wait for it (RFC 6455 7.1.1) within the step's share.
    daphne needs none of this: there the app returns only once TCP ended."""

    def __init__(self, sends: list[tuple[str, Any]]) -> None:
        """`sends`: (label, the ASGI send the server gave the app) of each websocket."""
        self.pending: dict[Any, str] = {}
        self._all_closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        for label, send in sends:
            protocol = uvicorn_protocol(send)
            if protocol is not None and not protocol.transport.is_closing():
                self._watch(protocol, label)

    def _watch(self, protocol: Any, label: str) -> None:
        self.pending[protocol] = label
        original = protocol.connection_lost

        def connection_lost(exc: Exception | None) -> None:
            original(exc)
            self.pending.pop(protocol, None)
            if not self.pending and not self._all_closed.done():
                self._all_closed.set_result(None)

        protocol.connection_lost = connection_lost

    async def wait(self, timeout: float) -> list[str]:
        """Wait until every watched connection ended; end and name those left after `timeout`."""
        if not self.pending:
            return []
        try:
            await asyncio.wait_for(asyncio.shield(self._all_closed), timeout)
            return []
        except TimeoutError:
            left = dict(self.pending)
        for protocol in left:
            protocol.transport.abort()
        return list(left.values())


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
    if isinstance(transport, asyncio.ReadTransport) and transport.is_reading():
        transport.pause_reading()
        return transport.resume_reading
    return None
