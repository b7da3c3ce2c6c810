"""uvicorn's HTTP connections at shutdown: kept open through the drain, closed last.

uvicorn's `Server.shutdown()` calls `shutdown()` on every connection the moment it stops
accepting: an idle keep-alive connection is closed at once, under a client that may be
sending on it, and a response already under way gets its connection closed after it
although it may have left without `Connection: close`. Each HTTP connection's
`shutdown` is deferred instead: while the drain lasts such a connection stays open and
its next request is served with `Connection: close` (after which uvicorn
closes it); uvicorn's own `shutdown()` runs on it in the last step. A response that has
not started yet is left to uvicorn, which then sends `Connection: close` with it.

asyncio's `Server.close()` resets the connections waiting in the kernel's backlog; they
are accepted first (`accept_backlog`) and served like the others.

When an idle connection finally closes, a request already in its socket's buffer (not
read by the loop yet) is served first, as under daphne (`shut_down_all`).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

from .lost import wait_lost

logger = logging.getLogger("graceful_django")

DEFERRED_ATTRIBUTE = "_graceful_django_shutdown"


def is_http(connection: Any) -> bool:
    return hasattr(connection, "cycle") and hasattr(connection, "shutdown")


def defer_shutdown(connection: Any) -> None:
    original = connection.shutdown

    def shutdown() -> None:
        cycle = connection.cycle
        if cycle is not None and not cycle.response_complete and not cycle.response_started:
            original()  # its response will say Connection: close
        # Otherwise idle, or its response already left: it stays open until the last step.

    setattr(connection, DEFERRED_ATTRIBUTE, original)
    connection.shutdown = shutdown


def defer_all(connections: set[Any]) -> None:
    for connection in list(connections):
        if is_http(connection) and not hasattr(connection, DEFERRED_ATTRIBUTE):
            defer_shutdown(connection)


def shut_down_all(connections: set[Any]) -> None:
    """uvicorn's own shutdown() at last: idle ones close now, busy ones after their response.

    An idle connection whose next request is already in its socket's buffer (the loop has
    not read it yet) is left open: closing it would reset it under that request. The loop
    reads the request next, it is served with `Connection: close` (the drain marks every
    response so), and uvicorn closes the connection after it.
    """
    for connection in list(connections):
        original = getattr(connection, DEFERRED_ATTRIBUTE, None)
        if original is not None and not (_idle(connection) and _request_waiting(connection)):
            original()


def youngest_idle(connections: set[Any], loop: asyncio.AbstractEventLoop) -> float | None:
    """Seconds since the most recent response among the idle connections (None: none idle).

    uvicorn arms its keep-alive timer as a response completes: its deadline, less the
    keep-alive timeout, is when the connection went idle.
    """
    ages = []
    for connection in connections:
        if not (is_http(connection) and _idle(connection)):
            continue
        timer = getattr(connection, "timeout_keep_alive_task", None)
        keep_alive = getattr(getattr(connection, "config", None), "timeout_keep_alive", None)
        if connection.cycle is None and timer is None:
            ages.append(0.0)  # accepted just now (the backlog): its first request is due
        elif timer is not None and keep_alive:
            ages.append(loop.time() - (timer.when() - keep_alive))
    return min(ages, default=None)


def _idle(connection: Any) -> bool:
    cycle = connection.cycle
    return cycle is None or cycle.response_complete


def _request_waiting(connection: Any) -> bool:
    """Bytes in the kernel's receive buffer of the connection's socket, not read yet."""
    transport = getattr(connection, "transport", None)
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is None or sock.fileno() < 0:
        return False
    # A duplicate: uvloop's socket objects do not recv; the peek takes nothing from it.
    with socket.socket(fileno=socket.dup(sock.fileno())) as duplicate:
        try:
            return bool(duplicate.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT))
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            return False  # reset already: nothing to serve


def protocol_factory(server: Any) -> Any:
    """What uvicorn's `startup()` hands to `create_server` (a local function there)."""
    config = server.config

    def create_protocol() -> Any:
        protocol = config.http_protocol_class(
            config=config, server_state=server.server_state, app_state=server.lifespan.state
        )
        defer_shutdown(protocol)
        return protocol

    return create_protocol


def accept_backlog(
    listener: asyncio.AbstractServer, loop: asyncio.AbstractEventLoop, server: Any
) -> None:
    """Accept what the kernel completed on `listener`'s sockets, just before they close."""
    factory = protocol_factory(server)
    for listening in getattr(listener, "sockets", ()):
        # A duplicate of the listening socket: accept() on it takes from the same backlog.
        with socket.socket(fileno=socket.dup(listening.fileno())) as duplicate:
            duplicate.setblocking(False)
            while True:
                try:
                    accepted, _ = duplicate.accept()
                except (BlockingIOError, InterruptedError):
                    break
                except OSError as error:
                    logger.warning("accepting the backlog of %s failed: %s", listening, error)
                    break
                accepted.setblocking(False)
                connect = loop.connect_accepted_socket(factory, accepted, ssl=server.config.ssl)
                loop.create_task(connect)


async def wait_all_lost(connections: set[Any], timeout: float) -> list[str]:
    """Until every connection is gone (woken by the last one), at most `timeout` seconds;
    a label for each still open then.

    uvicorn drops a connection from the set in its `connection_lost`, so every connection
    still in the set is open.
    """
    pending = await wait_lost(list(connections), "connection_lost", timeout)
    return [_label(connection) for connection in pending]


def _label(connection: Any) -> str:
    client = getattr(connection, "client", None)
    peer = f"{client[0]}:{client[1]}" if client else "unknown peer"
    return f"connection from {peer} still open"
