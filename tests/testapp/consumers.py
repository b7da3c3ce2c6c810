"""Websocket consumers for tests/test_websockets.py (routes in tests/asgi.py).

Each records its `disconnect` as a `Write(kind="ws-disconnect", token=?token=...)` row,
so a test can count the consumers whose disconnect ran.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from graceful_django.consumers import (
    GracefulAsyncJsonWebsocketConsumer,
    GracefulAsyncWebsocketConsumer,
    GracefulJsonWebsocketConsumer,
    GracefulWebsocketConsumer,
)
from project.demo.models import Write

RECONNECT_MESSAGE = "server restarting, reconnect in 5 s"
DISCONNECT_KIND = "ws-disconnect"


def token_of(scope: dict[str, Any]) -> str:
    query = parse_qs(scope.get("query_string", b"").decode())
    return query.get("token", ["?"])[0]


def record_disconnect(scope: dict[str, Any]) -> None:
    Write.objects.create(kind=DISCONNECT_KIND, token=token_of(scope))


class RecordingConsumer(GracefulAsyncWebsocketConsumer):
    def last_message(self, code: int, reason: str) -> Any:
        return RECONNECT_MESSAGE

    async def disconnect(self, code: Any) -> None:
        await database_sync_to_async(record_disconnect)(self.scope)


class SyncRecordingConsumer(GracefulWebsocketConsumer):
    def last_message(self, code: int, reason: str) -> Any:
        return RECONNECT_MESSAGE

    def disconnect(self, code: Any) -> None:
        record_disconnect(self.scope)


class AsyncJsonRecordingConsumer(GracefulAsyncJsonWebsocketConsumer):
    def last_message(self, code: int, reason: str) -> Any:
        return {"type": "restarting", "message": RECONNECT_MESSAGE}

    async def disconnect(self, code: Any) -> None:
        await database_sync_to_async(record_disconnect)(self.scope)


class SyncJsonRecordingConsumer(GracefulJsonWebsocketConsumer):
    def last_message(self, code: int, reason: str) -> Any:
        return {"type": "restarting", "message": RECONNECT_MESSAGE}

    def disconnect(self, code: Any) -> None:
        record_disconnect(self.scope)


class PlainRecordingConsumer(AsyncWebsocketConsumer):
    """Does not use the mixin: the ASGI wrapper alone must close it."""

    async def disconnect(self, code: Any) -> None:
        await database_sync_to_async(record_disconnect)(self.scope)


class HangingConsumer(GracefulAsyncWebsocketConsumer):
    """Its disconnect never returns: it must be forced without holding up the others."""

    async def disconnect(self, code: Any) -> None:
        await asyncio.Event().wait()


class SlowConnectConsumer(GracefulAsyncWebsocketConsumer):
    """Accepts only after ?delay= seconds: its handshake is still open when SIGTERM comes."""

    async def connect(self) -> None:
        query = parse_qs(self.scope.get("query_string", b"").decode())
        # The test waits for this line before it sends the signal.
        print(f"SLOW_CONNECT_STARTED {token_of(self.scope)}", flush=True)
        await asyncio.sleep(float(query.get("delay", ["1"])[0]))
        await self.accept()

    async def disconnect(self, code: Any) -> None:
        await database_sync_to_async(record_disconnect)(self.scope)


class GracefulEchoConsumer(GracefulAsyncWebsocketConsumer):
    """The demo's EchoConsumer made graceful (benchmark: what the registry costs)."""

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        await self.send(text_data=text_data, bytes_data=bytes_data)


class OrderConsumer(GracefulAsyncWebsocketConsumer):
    """Prints when its close frame was written and when its `disconnect` began, on the
    process's one monotonic clock: at shutdown every frame must come before any disconnect."""

    async def close(self, code: int | bool | None = None, reason: str | None = None) -> None:
        await super().close(code=code, reason=reason)
        print(f"ORDER close-written {time.monotonic():.6f}", flush=True)

    async def disconnect(self, code: int) -> None:
        print(f"ORDER disconnect {time.monotonic():.6f}", flush=True)


class QueuedMessagesConsumer(GracefulAsyncWebsocketConsumer):
    """On "queue N" from its client, queues N messages on its own channel, each handled
    slowly: at shutdown they are still queued, and must all reach the client before the
    last message and the close."""

    def last_message(self, code: int, reason: str) -> Any:
        return RECONNECT_MESSAGE

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        count = int((text_data or "queue 0").split()[1])
        for n in range(count):
            await self.channel_layer.send(self.channel_name, {"type": "queued.message", "n": n})
        print(f"QUEUED {token_of(self.scope)}", flush=True)  # the test signals after this

    async def queued_message(self, message: dict[str, Any]) -> None:
        await self.send(text_data=f"queued {message['n']}")
        await asyncio.sleep(0.05)  # a handler that takes a moment: the others stay queued

    async def disconnect(self, code: Any) -> None:
        await database_sync_to_async(record_disconnect)(self.scope)


class BusySyncConsumer(GracefulWebsocketConsumer):
    """A sync consumer still in a handler past half the close share (?busy= seconds after
    "busy" from its client): closed directly from the event loop."""

    def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        query = parse_qs(self.scope.get("query_string", b"").decode())
        print(f"BUSY {token_of(self.scope)}", flush=True)
        time.sleep(float(query.get("busy", ["3.5"])[0]))  # the work the handler is doing

    def disconnect(self, code: Any) -> None:
        record_disconnect(self.scope)
