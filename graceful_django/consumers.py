"""Channels consumers that close cleanly at shutdown.

    class ChatConsumer(GracefulAsyncWebsocketConsumer):
        def last_message(self, code, reason):
            return {"type": "restarting", "reconnect_in": 5}   # optional

`connect` and `disconnect` need nothing beyond what they already do (call `super()` if
you override `__init__`). At shutdown each consumer sends `last_message()` (if any), then
a close frame with GRACEFUL_WS_CLOSE_CODE and GRACEFUL_WS_CLOSE_REASON; its `disconnect`
runs as usual once the client answered. Override `graceful_close` to take over entirely.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable
from typing import Any

from channels.generic.websocket import (
    AsyncJsonWebsocketConsumer,
    AsyncWebsocketConsumer,
    JsonWebsocketConsumer,
    WebsocketConsumer,
)
from channels.layers import get_channel_layer

from .state import get_state
from .websockets.registry import CLOSE_MESSAGE_TYPE, SCOPE_CONNECTION_KEY


class GracefulWebsocketMixin:
    """Put it before the Channels websocket consumer class (sync, async or JSON)."""

    _sync: bool
    channel_layer_alias: str
    groups: list[str] | None
    _graceful_closing = False

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        connection = scope.get(SCOPE_CONNECTION_KEY)
        if connection is not None:
            connection.attach(self)
            if get_channel_layer(self.channel_layer_alias) is not None:
                # Channels joins and leaves `groups` around connect and disconnect.
                self.groups = [*(self.groups or []), get_state().websockets.group]
        await super().__call__(scope, receive, send)  # type: ignore[misc]

    async def dispatch(self, message: dict[str, Any]) -> None:
        if message.get("type") == CLOSE_MESSAGE_TYPE and not self._sync:
            # Our handler needs no database: skip the thread hop channels makes before every
            # handler (close_old_connections), which 1,000 consumers would take one by one.
            await self.graceful_close(message)  # type: ignore[misc]
            return
        await super().dispatch(message)  # type: ignore[misc]

    def last_message(self, code: int, reason: str) -> Any:
        """Sent just before the close frame: str as text, bytes as binary, else as JSON."""
        return None

    def graceful_close(self, message: dict[str, Any]) -> Awaitable[None] | None:
        """Handler of the `graceful.close` broadcast (sync or async like the consumer).

        It may come twice (through the layer, and directly when the layer is slow); only
        the first is acted on.
        """
        if self._sync:
            self._graceful_close_sync(message["code"], message["reason"])
            return None
        return self._graceful_close_async(message["code"], message["reason"])

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
        # Not a wait: yield once so the server flushes this close frame before channels
        # re-enters the layer's receive, which costs O(consumers) with the in-memory layer
        # (daphne writes only when the loop polls the socket).
        await asyncio.sleep(0)


class GracefulAsyncWebsocketConsumer(GracefulWebsocketMixin, AsyncWebsocketConsumer):  # type: ignore[misc]
    pass


class GracefulWebsocketConsumer(GracefulWebsocketMixin, WebsocketConsumer):  # type: ignore[misc]
    pass


class GracefulAsyncJsonWebsocketConsumer(GracefulWebsocketMixin, AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    pass


class GracefulJsonWebsocketConsumer(GracefulWebsocketMixin, JsonWebsocketConsumer):  # type: ignore[misc]
    pass
