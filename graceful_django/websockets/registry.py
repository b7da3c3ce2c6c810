"""Every open websocket of this process, from its handshake to the return of its application.

The ASGI wrapper hands every websocket scope to `serve_websocket`, so each socket is
tracked whether or not its consumer uses `GracefulWebsocketMixin`. The registry knows
each socket's consumer, which `closing.close_all` tells to close (`delivery` queues the
message on the consumer's own channel, so it comes after the messages already queued).
Per socket it holds one slotted `Connection` and one tracker ticket: no group membership
on the channel layer, nothing per socket in Redis.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Sequence
from typing import Any

from ..conf import conf
from ..core.coordinator import Coordinator
from .gate import Gate
from .granian import UnblockableReceive, is_granian_receive
from .transport import (
    daphne_protocol,
    drop_connection,
    is_sendable_close_code,
    refuse_handshake,
    send_close_frame,
)

logger = logging.getLogger("graceful_django")

CLOSE_MESSAGE_TYPE = "graceful.close"

CONNECTING, OPEN, CLOSING, CLOSED = range(4)

# How long a layer may take to hand this process back a message of its own (the Redis
# marker of `delivery`) before the close goes ahead without it. Redis hands over what was
# queued before the marker first, one message at a time (four commands each, 1-2 ms on a
# busy machine), so this bounds the messages that still get through: about 500.
LAYER_GRACE = 1.0


class Connection:
    """One websocket between its handshake and the return of its application."""

    __slots__ = (
        "registry",
        "coordinator",
        "ticket",
        "scope",
        "raw_send",
        "protocol",
        "task",
        "consumer",
        "state",
        "forced",
        "receive",
        "waiting",
        "dispatching",
    )

    def __init__(
        self,
        registry: Registry,
        coordinator: Coordinator,
        scope: dict[str, Any],
        send: Any,
        receive: Any = None,
    ) -> None:
        self.registry = registry
        self.coordinator = coordinator
        # Labelled by the connection itself, its name built only when a log needs it: the
        # name (path, peer, consumer class) as a string would cost every socket 200 bytes.
        self.ticket = coordinator.websockets.open(self)
        self.scope = scope
        self.raw_send = send
        self.receive = UnblockableReceive(receive) if is_granian_receive(receive) else receive
        self.protocol = daphne_protocol(send)
        self.task = asyncio.current_task()
        self.consumer: Any = None
        self.state = CONNECTING
        self.forced = False
        # Kept by a graceful consumer: waiting on its channel, inside a handler.
        self.waiting = False
        self.dispatching = False

    def attach(self, consumer: Any) -> None:
        """A graceful consumer serves this socket: close it through the consumer."""
        self.consumer = consumer

    def __str__(self) -> str:
        client = self.scope.get("client")
        name = f"websocket {self.scope.get('path', '')}"
        if client:
            name += f" from {client[0]}:{client[1]}"
        if self.consumer is not None:
            cls = type(self.consumer)
            name += f" ({cls.__module__}.{cls.__qualname__})"
        return name

    @property
    def label(self) -> str:
        return f"{self}, open {self.ticket.age():.1f}s"

    async def send(self, message: dict[str, Any]) -> None:
        """The `send` the application sees."""
        kind = message["type"]
        if kind == "websocket.accept":
            if self.state != CONNECTING:
                return
            if self.registry.refusing(self.coordinator):
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
                    reason = message.get("reason") or ""
                    send_close_frame(
                        self.protocol, code, reason, bounded_elsewhere=self.registry.closing
                    )
                    return
                if isinstance(self.receive, UnblockableReceive):
                    closing = self.raw_send(message)  # granian starts the close now...
                    self.receive.unblock()  # ...and sends it once no receive is pending
                    await closing
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
            logger.debug("closing %s failed", self, exc_info=True)

    async def force_close(self, code: int, reason: str) -> None:
        """The share is over: say goodbye if nobody did, then stop the application."""
        self.forced = True
        await self.close(code, reason)
        if self.protocol is not None and self.state == CLOSING:
            drop_connection(self.protocol)
        if self.task is not None and not self.task.done():
            self.task.cancel()


class Registry:
    """The open connections of this process."""

    def __init__(self) -> None:
        # Each by the `receive` its application was given, by which its consumer finds it
        # (`find`): a key of ours in every scope would cost each socket a bigger dict.
        self.connections: dict[Any, Connection] = {}
        self.closing = False
        # Direct deliveries of the close message; the loop keeps only weak references.
        self.direct_tasks: set[asyncio.Task[Any]] = set()
        # Where graceful consumers' `disconnect`s wait while the close frames go out.
        self.disconnects = Gate()

    def snapshot(self) -> list[Connection]:
        return sorted(self.connections.values(), key=lambda c: c.ticket.started)

    def find(self, receive: Any, send: Any) -> Connection | None:
        """The connection whose application was given `receive` or `send` (None: not under
        the wrapper, or behind a middleware that replaced both)."""
        try:
            found = self.connections.get(receive)
        except TypeError:  # an unhashable callable: not one of ours
            found = None
        if found is None and isinstance(getattr(send, "__self__", None), Connection):
            found = send.__self__
        return found

    def refusing(self, coordinator: Coordinator) -> bool:
        """True once no handshake may be accepted any more: past the pre-drain delay, or
        once the close has begun, a socket would be closed the moment it opened. During the
        delay the load balancers still send traffic, and the socket is closed with the
        others."""
        return coordinator.delay_over or self.closing


async def serve_websocket(
    app: Any,
    registry: Registry,
    coordinator: Coordinator,
    scope: dict[str, Any],
    receive: Any,
    send: Any,
) -> None:
    if registry.refusing(coordinator):
        await refuse_handshake(scope, send, conf.GRACEFUL_RETRY_AFTER)
        return
    connection = Connection(registry, coordinator, scope, send, receive)
    registry.connections[connection.receive] = connection
    try:
        await app(scope, connection.receive, connection.send)
    except asyncio.CancelledError:
        if not connection.forced:
            raise
        # Cancelled by force_close: ending normally keeps the server from logging a crash.
    finally:
        registry.connections.pop(connection.receive, None)
        coordinator.websockets.close(connection.ticket)


def close_directly(registry: Registry, consumers: Sequence[Any], message: dict[str, Any]) -> None:
    """The in-process path, for consumers no layer reached (the handler is idempotent).

    Runs the consumer's own close on the loop, never its `dispatch`: a sync consumer's
    dispatch goes to Channels' worker thread, and called from outside the consumer's own
    loop it fails ("CurrentThreadExecutor already quit or is broken").
    """
    loop = asyncio.get_running_loop()
    for consumer in consumers:
        # An empty context: the task must not inherit a request's thread-sensitive executor.
        task = loop.create_task(consumer.close_at_shutdown(message), context=contextvars.Context())
        registry.direct_tasks.add(task)
        task.add_done_callback(registry.direct_tasks.discard)
        task.add_done_callback(_done)


def _done(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.warning("closing a consumer failed", exc_info=task.exception())
