"""Every open websocket of this process, and closing them all cleanly at shutdown.

The ASGI wrapper hands every websocket scope to `serve_websocket`, so each socket is
tracked whether or not its consumer uses `GracefulWebsocketMixin`. At shutdown
`close_all`:

1. refuses every handshake from now on (HTTP 503; an accept still in flight is turned
   into that refusal, never accepted and then dropped);
2. broadcasts `graceful.close` to this process's group on the channel layer (the same
   path in-memory and with Redis; a direct in-process call without a layer): each
   graceful consumer sends its last message, then a close frame with
   GRACEFUL_WS_CLOSE_CODE and GRACEFUL_WS_CLOSE_REASON;
3. closes the sockets of the other apps itself, with the same code and reason;
4. waits, woken by the last one, until every socket's application returned (so every
   consumer's `disconnect` ran), up to GRACEFUL_WS_CLOSE_TIMEOUT; what is left is
   closed and cancelled, and named in the log and in the report.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from typing import Any

from .broadcast import broadcast_close, close_directly
from .conf import conf
from .coordinator import Coordinator, Phase
from .deadline import Deadline
from .tracker import Ticket
from .websocket_transport import (
    daphne_protocol,
    is_sendable_close_code,
    refuse_handshake,
    send_close_frame,
)

logger = logging.getLogger("graceful_django")

# The scope key under which a consumer finds its Connection.
SCOPE_CONNECTION_KEY = "graceful_django.websocket"
CLOSE_MESSAGE_TYPE = "graceful.close"

CONNECTING, OPEN, CLOSING, CLOSED = range(4)

# A layer hands a process its messages one at a time (channels_redis: four Redis commands
# each, about 250 a second on a busy 2-core machine), so consumers it has not reached by
# then are told in-process; the in-memory layer reaches 1,000 in about 0.15 s.
LAYER_GRACE = 0.3


class Connection:
    """One websocket between its handshake and the return of its application."""

    __slots__ = (
        "coordinator",
        "ticket",
        "scope",
        "raw_send",
        "protocol",
        "task",
        "consumer",
        "joined",
        "state",
        "forced",
    )

    def __init__(self, coordinator: Coordinator, ticket: Ticket, scope: dict[str, Any], send: Any):
        self.coordinator = coordinator
        self.ticket = ticket
        self.scope = scope
        self.raw_send = send
        self.protocol = daphne_protocol(send)
        self.task = asyncio.current_task()
        self.consumer: Any = None
        self.joined = 0.0
        self.state = CONNECTING
        self.forced = False

    def attach(self, consumer: Any) -> None:
        """A graceful consumer serves this socket: close it through the consumer."""
        self.consumer = consumer
        self.joined = time.monotonic()
        cls = type(consumer)
        self.ticket.label = f"{self.ticket.label} ({cls.__module__}.{cls.__qualname__})"

    @property
    def label(self) -> str:
        return f"{self.ticket.label}, open {self.ticket.age():.1f}s"

    async def send(self, message: dict[str, Any]) -> None:
        """The `send` the application sees."""
        kind = message["type"]
        if kind == "websocket.accept":
            if self.state != CONNECTING:
                return
            if refusing(self.coordinator):
                # The handshake began before the shutdown: refuse it rather than accept
                # a socket that would be closed a moment later.
                self.state = CLOSED
                await refuse_handshake(self.scope, self.raw_send, conf.GRACEFUL_RETRY_AFTER)
                return
            self.state = OPEN
        elif kind == "websocket.send":
            if self.state >= CLOSING:
                return  # after a close frame nothing may follow; the app is told by disconnect
            self.state = OPEN  # daphne accepts a socket implicitly on its first message
        elif kind == "websocket.close":
            if self.state >= CLOSING:
                return
            if self.state == CONNECTING:
                self.state = CLOSED
            else:
                self.state = CLOSING
                code = message.get("code") or 1000
                if self.protocol is not None and is_sendable_close_code(code):
                    send_close_frame(self.protocol, code, message.get("reason") or "")
                    return
        elif kind == "websocket.http.response.start":
            self.state = CLOSED
        await self.raw_send(message)

    async def close(self, code: int, reason: str) -> None:
        """Close from the server side; the application then gets `websocket.disconnect`."""
        try:
            if self.state == CONNECTING:
                self.state = CLOSED
                await refuse_handshake(self.scope, self.raw_send, conf.GRACEFUL_RETRY_AFTER)
            elif self.state == OPEN:
                await self.send({"type": "websocket.close", "code": code, "reason": reason})
        except Exception:  # the client went away meanwhile: nothing left to close
            logger.debug("closing %s failed", self.ticket.label, exc_info=True)

    async def force_close(self, code: int, reason: str) -> None:
        """The share is over: say goodbye if nobody did, then stop the application."""
        self.forced = True
        await self.close(code, reason)
        if self.task is not None and not self.task.done():
            self.task.cancel()


class Registry:
    """The open connections of this process, and its group on the channel layer."""

    def __init__(self) -> None:
        self.connections: set[Connection] = set()
        self.closing = False
        self._group = ""
        self._group_pid = 0

    @property
    def group(self) -> str:
        # One group per process (pid checked: a fork must not share its parent's group).
        if self._group_pid != os.getpid():
            self._group = f"graceful_django.process.{uuid.uuid4().hex}"
            self._group_pid = os.getpid()
        return self._group

    def snapshot(self) -> list[Connection]:
        return sorted(self.connections, key=lambda connection: connection.ticket.started)


_registry = Registry()


def get_registry() -> Registry:
    return _registry


def refusing(coordinator: Coordinator) -> bool:
    return coordinator.refusing or coordinator.phase is not Phase.RUNNING or _registry.closing


async def serve_websocket(
    app: Any, coordinator: Coordinator, scope: dict[str, Any], receive: Any, send: Any
) -> None:
    if refusing(coordinator):
        await refuse_handshake(scope, send, conf.GRACEFUL_RETRY_AFTER)
        return
    client = scope.get("client")
    peer = f" from {client[0]}:{client[1]}" if client else ""
    ticket = coordinator.websockets.open(f"websocket {scope.get('path', '')}{peer}")
    connection = Connection(coordinator, ticket, scope, send)
    scope[SCOPE_CONNECTION_KEY] = connection
    _registry.connections.add(connection)
    try:
        await app(scope, receive, connection.send)
    except asyncio.CancelledError:
        if not connection.forced:
            raise
        # Cancelled by force_close: ending normally keeps the server from logging a crash.
    finally:
        _registry.connections.discard(connection)
        coordinator.websockets.close(ticket)


async def close_all(deadline: Deadline) -> list[str]:
    """Close every websocket within the step's share; the names of those forced."""
    registry = get_registry()
    registry.closing = True
    connections = registry.snapshot()
    if not connections:
        return []
    share = deadline.share(float(conf.GRACEFUL_WS_CLOSE_TIMEOUT))
    ends = time.monotonic() + share
    code, reason = conf.GRACEFUL_WS_CLOSE_CODE, conf.GRACEFUL_WS_CLOSE_REASON
    graceful = [connection for connection in connections if connection.consumer is not None]
    others = [connection for connection in connections if connection.consumer is None]
    logger.info(
        "closing %d websockets with code %s (%d through their consumers)",
        len(connections),
        code,
        len(graceful),
    )
    message = {"type": CLOSE_MESSAGE_TYPE, "code": code, "reason": reason}
    await broadcast_close(registry.group, graceful, message)
    await asyncio.gather(*(connection.close(code, reason) for connection in others))
    tracker = connections[0].coordinator.websockets
    if await tracker.wait_empty(min(LAYER_GRACE, max(0.0, ends - time.monotonic()))):
        return []
    late = [c for c in graceful if c.state == OPEN and c in registry.connections]
    if late:
        logger.info("%d consumers not reached through the layer yet; closing directly", len(late))
        close_directly(late, message)
    if await tracker.wait_empty(max(0.0, ends - time.monotonic())):
        return []
    left = registry.snapshot()
    names = [connection.label for connection in left]
    for connection in left:
        await connection.force_close(code, reason)
    logger.warning("force-closed %d websockets after %.1fs: %s", len(left), share, "; ".join(names))
    return names
