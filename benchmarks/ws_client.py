"""A lean websocket client for 10,000 sockets from one process (benchmarks only).

The `websockets` package costs the client more per close than the server spends, so with
thousands of sockets the client would be what is measured. This one is an asyncio
Protocol that does the handshake, notes the first message and the close frame, answers
the close (masked, as RFC 6455 requires of a client) and nothing else.
"""

from __future__ import annotations

import asyncio
import base64
import os
import struct
import time

_CLOSE, _TEXT, _BINARY, _PING, _PONG = 0x8, 0x1, 0x2, 0x9, 0xA


class LeanClient(asyncio.Protocol):
    def __init__(self, host: str, port: int, path: str) -> None:
        self.request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
            f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\n\r\n"
        ).encode()
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.upgraded = False
        loop = asyncio.get_running_loop()
        self.opened: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.messages = 0
        self.code: int | None = None
        self.reason = ""
        self.close_frame_at: float | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.upgraded:
            head, found, rest = self.buffer.partition(b"\r\n\r\n")
            if not found:
                return
            if not head.startswith(b"HTTP/1.1 101"):
                self.opened.set_exception(ConnectionError(head.split(b"\r\n")[0].decode()))
                return
            self.upgraded, self.buffer = True, rest
            self.opened.set_result(None)
        while len(self.buffer) >= 2:
            opcode, length = self.buffer[0] & 0x0F, self.buffer[1] & 0x7F
            start = 2
            if length == 126:
                (length,), start = struct.unpack("!H", self.buffer[2:4]), 4
            elif length == 127:
                (length,), start = struct.unpack("!Q", self.buffer[2:10]), 10
            if len(self.buffer) < start + length:
                return
            payload, self.buffer = (
                self.buffer[start : start + length],
                self.buffer[start + length :],
            )
            if opcode in (_TEXT, _BINARY):
                self.messages += 1
            elif opcode == _PING:  # daphne drops a socket that leaves its pings unanswered
                self._send(_PONG, payload)
            elif opcode == _CLOSE and self.close_frame_at is None:
                self.close_frame_at = time.monotonic()
                if len(payload) >= 2:
                    self.code = struct.unpack("!H", payload[:2])[0]
                    self.reason = payload[2:].decode("utf-8", "replace")
                self._send(_CLOSE, payload[:2])

    def _send(self, opcode: int, payload: bytes) -> None:
        """A short masked frame (a client masks every frame)."""
        mask = os.urandom(4)
        body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        assert self.transport is not None and len(body) < 126
        self.transport.write(bytes([0x80 | opcode, 0x80 | len(body)]) + mask + body)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(exc or ConnectionError("closed before the handshake"))
        if not self.closed.done():
            self.closed.set_result(None)


async def open_lean(
    host: str, port: int, path: str, count: int, at_once: int = 100
) -> list[LeanClient]:
    """`count` clients, at most `at_once` handshakes in flight (daphne listens with a
    backlog of 50; uvicorn 2048)."""
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(at_once)

    async def one() -> LeanClient:
        async with gate:
            _, client = await loop.create_connection(
                lambda: LeanClient(host, port, path), host, port
            )
            await asyncio.wait_for(client.opened, 30)
        return client

    return await asyncio.gather(*(one() for _ in range(count)))
