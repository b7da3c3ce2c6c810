"""Channels consumers that close cleanly at shutdown.

    class ChatConsumer(GracefulAsyncWebsocketConsumer):
        def last_message(self, code, reason):
            return {"type": "restarting", "reconnect_in": 5}   # optional

`connect` and `disconnect` need nothing beyond what they already do (call `super()` if
you override `__init__`). At shutdown each consumer sends `last_message()` (if any), then
a close frame with GRACEFUL_WS_CLOSE_CODE and GRACEFUL_WS_CLOSE_REASON; its `disconnect`
runs once every close frame of the process is out (the shutdown then waits for each
client's answer). Override `graceful_close` to take over entirely.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any, cast

from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import (
    AsyncJsonWebsocketConsumer,
    AsyncWebsocketConsumer,
    JsonWebsocketConsumer,
    WebsocketConsumer,
)

from .state import get_state
from .websockets.registry import CLOSE_MESSAGE_TYPE, Connection


class GracefulWebsocketMixin:
    """Put it before the Channels websocket consumer class (sync, async or JSON)."""

    _sync: bool
    scope: dict[str, Any]
    channel_layer: Any
    channel_name: str
    groups: list[str] | None
    _graceful_closing = False
    # The wrapper's record of this socket (None: not under the GracefulShutdown wrapper).
    _graceful_connection: Connection | None = None
    _layer_receive: Callable[[], Awaitable[dict[str, Any]]]

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        connection = get_state().websockets.find(receive, send)
        if connection is not None:
            self._graceful_connection = connection
            connection.attach(self)
        await super().__call__(scope, receive, send)  # type: ignore[misc]

    # Channels sets `channel_receive` to the layer's receive and reads it once, to build
    # its dispatch loop: the property puts ours in between.
    @property
    def channel_receive(self) -> Callable[[], Awaitable[dict[str, Any]]]:
        return self._graceful_channel_receive

    @channel_receive.setter
    def channel_receive(self, receive: Callable[[], Awaitable[dict[str, Any]]]) -> None:
        self._layer_receive = receive

    async def _graceful_channel_receive(self) -> dict[str, Any]:
        if self._graceful_closing:
            # After our close frame nothing more may be sent, so stop reading the layer:
            # a receive costs O(channels) on the in-memory layer (it scans them all for
            # expiry) and contends for one lock on channels_redis. Channels cancels this
            # wait when the consumer stops.
            await asyncio.get_running_loop().create_future()
        # The flags live on the (slotted) Connection: two more keys in every consumer's
        # __dict__ would cost each socket a few hundred bytes.
        connection = self._graceful_connection
        if connection is None:
            return await self._layer_receive()
        connection.waiting = True
        try:
            return await self._layer_receive()
        finally:
            connection.waiting = False

    @property
    def idle(self) -> bool:
        """Waiting on its channel and in no handler: a close now cuts nothing short."""
        connection = self._graceful_connection
        return connection is not None and connection.waiting and not connection.dispatching

    async def dispatch(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == CLOSE_MESSAGE_TYPE:
            await self.close_at_shutdown(message)
            return
        connection = self._graceful_connection
        if kind == "websocket.disconnect" and self._graceful_closing:
            if connection is not None:
                # The other sockets' close frames first (see websockets/gate.py).
                await connection.registry.disconnects.passage()
            if self._hopless():
                await self._disconnect_without_hops(message)
                return
        if connection is None:
            await super().dispatch(message)  # type: ignore[misc]
            return
        connection.dispatching = True
        try:
            await super().dispatch(message)  # type: ignore[misc]
        finally:
            connection.dispatching = False

    def last_message(self, code: int, reason: str) -> Any:
        """Sent just before the close frame: str as text, bytes as binary, else as JSON."""
        return None

    def graceful_close(self, message: dict[str, Any]) -> Awaitable[None] | None:
        """Handler of the `graceful.close` message (sync or async like the consumer).

        It may come twice (on its channel, and directly once it is late); only
        the first is acted on.
        """
        if self._sync:
            self._graceful_close_sync(message["code"], message["reason"])
            return None
        return self._graceful_close_async(message["code"], message["reason"])

    async def close_at_shutdown(self, message: dict[str, Any]) -> None:
        """The close, run on the event loop (by `dispatch`, or by the registry directly)."""
        cls = type(self)
        if cls.graceful_close is not GracefulWebsocketMixin.graceful_close:
            # Taken over by the consumer: run it where Channels would run the handler.
            if self._sync:
                await database_sync_to_async(self.graceful_close)(message)
            else:
                await cast(Awaitable[None], self.graceful_close(message))
            return
        code, reason = message["code"], message["reason"]
        if not self._sync:
            await self._graceful_close_async(code, reason)
            return
        connection = self._graceful_connection
        if connection is None:  # not under the ASGI wrapper: no send of ours to use
            await database_sync_to_async(self._graceful_close_sync)(code, reason)
            return
        if self._graceful_closing:
            return
        self._graceful_closing = True
        payload = None
        if cls.last_message is not GracefulWebsocketMixin.last_message:
            # User code, which may query the database: in Channels' thread, as a handler.
            payload = await database_sync_to_async(self.last_message)(code, reason)
        # A sync consumer's own send hops to a thread and back to reach this same `send`;
        # for two fixed frames the hop is all the cost, so send them from here.
        if payload is not None:
            await connection.send(self._sync_frame(payload))
        await connection.send({"type": "websocket.close", "code": code, "reason": reason})

    def _sync_frame(self, payload: Any) -> dict[str, Any]:
        if isinstance(payload, str):
            return {"type": "websocket.send", "text": payload}
        if isinstance(payload, bytes):
            return {"type": "websocket.send", "bytes": payload}
        encode = getattr(self, "encode_json", json.dumps)
        return {"type": "websocket.send", "text": encode(payload)}

    def _hopless(self) -> bool:
        """Channels' own async websocket_disconnect, which we may run without thread hops."""
        return (
            not self._sync
            and type(self).websocket_disconnect is AsyncWebsocketConsumer.websocket_disconnect  # type: ignore[attr-defined]
            and (self.channel_layer is not None or not self.groups)
        )

    async def _disconnect_without_hops(self, message: dict[str, Any]) -> None:
        """Channels' `websocket_disconnect` minus its two `close_old_connections` hops.

        Channels runs close_old_connections in its one shared sync thread before and after
        every handler, so 10,000 disconnects queue 20,000 hops through one thread. At
        shutdown they guard nothing: `database_sync_to_async`, which ORM work in an async
        consumer must use, closes old connections around each call itself, and the
        shutdown's last step closes every connection of the process.
        """
        consumer: Any = self
        for group in self.groups or []:
            await self.channel_layer.group_discard(group, self.channel_name)
        await consumer.disconnect(message["code"])
        raise StopConsumer()

    def _goodbye(self, code: int, reason: str) -> tuple[str, dict[str, Any]] | None:
        """The send method and arguments of the last message, if there is one."""
        payload = self.last_message(code, reason)
        if payload is None:
            return None
        if isinstance(payload, str):
            return "send", {"text_data": payload}
        if isinstance(payload, bytes):
            return "send", {"bytes_data": payload}
        if hasattr(self, "send_json"):
            return "send_json", {"content": payload}
        return "send", {"text_data": json.dumps(payload)}

    def _graceful_close_sync(self, code: int, reason: str) -> None:
        if self._graceful_closing:
            return
        self._graceful_closing = True
        consumer: Any = self
        goodbye = self._goodbye(code, reason)
        if goodbye is not None:
            getattr(consumer, goodbye[0])(**goodbye[1])
        consumer.close(code=code, reason=reason)

    async def _graceful_close_async(self, code: int, reason: str) -> None:
        if self._graceful_closing:
            return
        self._graceful_closing = True
        consumer: Any = self
        goodbye = self._goodbye(code, reason)
        if goodbye is not None:
            await getattr(consumer, goodbye[0])(**goodbye[1])
        await consumer.close(code=code, reason=reason)


class GracefulAsyncWebsocketConsumer(GracefulWebsocketMixin, AsyncWebsocketConsumer):  # type: ignore[misc]
    pass


class GracefulWebsocketConsumer(GracefulWebsocketMixin, WebsocketConsumer):  # type: ignore[misc]
    pass


class GracefulAsyncJsonWebsocketConsumer(GracefulWebsocketMixin, AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    pass


class GracefulJsonWebsocketConsumer(GracefulWebsocketMixin, JsonWebsocketConsumer):  # type: ignore[misc]
    pass
