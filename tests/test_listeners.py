"""Closing an asyncio listener in the turn that accepted connections (servers/listeners.py).

asyncio's Server builds each accepted connection's transport on the loop's next turn; a
close in between loses those connections (CPython's `Server._attach` assertion). The turn
is arranged as under hypercorn: a timer (the shutdown sequence waking) falls due while
the listener has connections to accept, so it runs just after the accept.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable

from graceful_django.servers.listeners import close_listener

CLIENTS = 5


async def _close_in_the_accepting_turn(close: Callable[[asyncio.AbstractServer], None]) -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        writer.write(b"served\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    loop = asyncio.get_running_loop()
    connected = threading.Event()
    clients: list[socket.socket] = []

    def connect() -> None:
        for _ in range(CLIENTS):
            client = socket.create_connection(("127.0.0.1", port), timeout=5)
            client.sendall(b"hello\n")
            clients.append(client)
        connected.set()

    def hold_the_loop() -> None:
        # The loop is held while the kernel completes the connections; the close is due on
        # the next turn, whose timers run after its accept.
        assert connected.wait(5)
        loop.call_later(0, close, server)

    loop.call_soon(hold_the_loop)
    threading.Thread(target=connect).start()
    await asyncio.to_thread(connected.wait, 5)
    answers = await asyncio.to_thread(lambda: [c.makefile("rb").readline() for c in clients])
    for client in clients:
        client.close()
    await server.wait_closed()
    assert answers == [b"served\n"] * CLIENTS


def test_connections_accepted_in_the_closing_turn_are_served():
    asyncio.run(_close_in_the_accepting_turn(close_listener))
