"""Load and SIGTERM: keep-alive HTTP clients and websockets against a real server, then a signal.

Each HTTP client sends one request at a time on a kept-alive connection (fast GETs, slow
sync and async views that write a row, POSTs that write a row, a streaming view) and
records what came back for every request it sent: a status, or `dropped` when the
connection ended (EOF or reset) where a response was due. A client stops after a 503, a
`Connection: close`, or a refused connection (nothing was sent then). Websocket clients
record the close frame they got and whether the closing handshake completed.
"""

from __future__ import annotations

import asyncio
import random
import signal
from dataclasses import dataclass, field

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.rawhttp import head
from tests.servers import ServerProcess

# kind -> (method, path with {token}, Write.kind or None when the view writes nothing)
ACTIONS = {
    "ping": ("GET", "/ping", None),
    "sync": ("GET", "/slow/sync?seconds=0.3&token={token}", "sync"),
    "async": ("GET", "/slow/async?seconds=0.3&token={token}", "async"),
    "post": ("POST", "/test/write?seconds=0.05&token={token}", "post"),
    "stream": ("GET", "/stream?seconds=0.3&chunks=3&token={token}", "stream"),
}
WEIGHTS = {"ping": 4, "sync": 2, "async": 2, "post": 2, "stream": 1}


@dataclass
class Sent:
    kind: str
    token: str
    outcome: str = "pending"  # "200", "503", ..., or "dropped: why"


@dataclass
class Round:
    sent: list[Sent] = field(default_factory=list)
    ws_closes: list[tuple[int | None, bool]] = field(default_factory=list)  # (code, clean)

    @property
    def dropped(self) -> list[Sent]:
        """Sent, and the connection ended where the response was due."""
        return [s for s in self.sent if s.outcome.startswith("dropped")]

    @property
    def errors(self) -> list[Sent]:
        """Answered, but neither served nor refused (a 500 names its cause in the log)."""
        return [s for s in self.sent if s.outcome not in ("200", "503") and s not in self.dropped]


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    raw_head = await reader.readuntil(b"\r\n\r\n")
    lines = raw_head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip().lower()
    if "content-length" in headers:
        await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding") == "chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    return int(lines[0].split()[1]), headers.get("connection") == "close"


async def http_client(port: int, number: int, result: Round, stop: asyncio.Event) -> None:
    rng = random.Random(number)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return
    try:
        for index in range(10_000):
            if stop.is_set():
                return
            kind = rng.choices(list(WEIGHTS), list(WEIGHTS.values()))[0]
            method, path, _ = ACTIONS[kind]
            sent = Sent(kind, f"c{number}-{index}")
            try:
                writer.write(head(method, path.format(token=sent.token), 0))
                result.sent.append(sent)
                status, closes = await read_response(reader)
            except (OSError, asyncio.IncompleteReadError, EOFError) as error:
                if sent in result.sent:
                    sent.outcome = f"dropped: {type(error).__name__}"
                return
            sent.outcome = str(status)
            if status != 200 or closes:
                return
    finally:
        writer.close()


async def websocket_client(url: str, result: Round, opened: asyncio.Queue[None]) -> None:
    try:
        async with connect(url, open_timeout=20, close_timeout=10) as ws:
            opened.put_nowait(None)
            try:
                while True:
                    await ws.recv()
            except ConnectionClosed:
                pass
            # Clean as RFC 6455 7.1.1 (and a browser's wasClean) has it: both close frames
            # went across, then TCP ended without an error (a reset is what daphne did).
            protocol = ws.protocol
            received = protocol.close_rcvd
            clean = (
                received is not None
                and protocol.close_sent is not None
                and ws.connection_exc is None
            )
            result.ws_closes.append((received.code if received else None, clean))
    except OSError:
        opened.put_nowait(None)
        result.ws_closes.append((None, False))


async def run_round(server: ServerProcess, clients: int, websockets: int, seed: int) -> Round:
    result = Round()
    stop = asyncio.Event()
    opened: asyncio.Queue[None] = asyncio.Queue()
    ws_tasks = [
        asyncio.create_task(
            # A consumer that writes nothing: 100 disconnects writing rows at once would take
            # 100 PostgreSQL connections, more than a shared server may have free.
            websocket_client(f"{server.ws_url}/ws/test/graceful-echo/?token=w{i}", result, opened)
        )
        for i in range(websockets)
    ]
    for _ in range(websockets):
        await asyncio.wait_for(opened.get(), 30)
    http_tasks = [
        asyncio.create_task(http_client(server.port, n, result, stop)) for n in range(clients)
    ]
    # The signal lands at a random moment of the load (a load, not a wait for an event).
    await asyncio.sleep(random.Random(seed).uniform(0.2, 1.0))
    server.send(signal.SIGTERM)
    await asyncio.wait_for(asyncio.gather(*http_tasks, *ws_tasks), 40)
    return result
