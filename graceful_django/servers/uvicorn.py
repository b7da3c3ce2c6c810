"""Cooperating with uvicorn's own drain instead of fighting it.

uvicorn installs its SIGTERM/SIGINT handler (`Server.handle_exit`) before it sends the ASGI
lifespan startup, so at that moment the handler tells us the server. On `should_exit`
uvicorn closes its listeners, answers in-flight requests with `Connection: close`, closes
websockets (with 1012), waits for its connections and tasks, then sends lifespan
shutdown, which our wrapper answers once the rest of the sequence is done. Idle HTTP
connections stay open until our last step (uvicorn_connections.py).
"""

from __future__ import annotations

import asyncio
import signal
from typing import Any

from ..core.deadline import Deadline
from ..core.exiting import exit_now
from . import uvicorn_connections
from .base import CLOSE_RESERVE, ServerAdapter, let_idle_clients_settle
from .gunicorn import release_gunicorn_sockets
from .listeners import close_listener


def uvicorn_server_from_handler(handler: Any) -> Any | None:
    owner = getattr(handler, "__self__", None)
    if owner is not None and type(owner).__module__.startswith("uvicorn."):
        return owner
    return None


def current_uvicorn_server() -> Any | None:
    return uvicorn_server_from_handler(signal.getsignal(signal.SIGTERM))


class UvicornAdapter(ServerAdapter):
    name = "uvicorn"
    close_websockets_before_stop_accepting = True

    def __init__(self, server: Any) -> None:
        self.server = server
        # Named by the last step when a client kept its connection open (it stopped reading).
        self.open_connections: list[str] = ["not closed yet"]

    def listening_addresses(self) -> list[str]:
        addresses = []
        for listener in getattr(self.server, "servers", None) or []:
            for sock in listener.sockets or []:
                name = sock.getsockname()
                addresses.append(f"{name[0]}:{name[1]}" if isinstance(name, tuple) else str(name))
        return addresses

    def _http_connections(self) -> set[Any]:
        state = getattr(self.server, "server_state", None)
        return getattr(state, "connections", set())

    def stop_accepting(self) -> None:
        uvicorn_connections.defer_all(self._http_connections())
        loop = asyncio.get_running_loop()
        release_gunicorn_sockets(self.server)
        # Closing the listeners now rather than on uvicorn's next 0.1 s tick.
        for listener in getattr(self.server, "servers", []):
            uvicorn_connections.accept_backlog(listener, loop, self.server)
            close_listener(listener)
        # Not handle_exit(): it would re-raise the signal at exit, turning a clean
        # shutdown into a death by SIGTERM (exit status 143).
        self.server.should_exit = True

    async def close_connections(self, deadline: Deadline) -> list[str]:
        connections = self._http_connections()
        youngest = uvicorn_connections.youngest_idle(connections, asyncio.get_running_loop())
        await let_idle_clients_settle(youngest, deadline)
        uvicorn_connections.shut_down_all(connections)
        # Woken by the last connection_lost, every byte of every response written; a client
        # that stops reading holds its connection open, and is named.
        self.open_connections = await uvicorn_connections.wait_all_lost(
            connections, deadline.share(None, reserve=CLOSE_RESERVE)
        )
        return self.open_connections

    async def finish(self, exit_code: int) -> None:
        if not self.open_connections:
            # Every connection is gone and the sequence is over: nothing is left for uvicorn
            # to do but to notice, on its 0.1 s ticks (its connections, then its tasks) and
            # through the lifespan shutdown. Exiting now beats plain uvicorn's own exit.
            exit_now(exit_code)
        # uvicorn exits by itself once our lifespan shutdown answers, returning through
        # asyncio.run, whose cleanup cancels and then awaits without a limit every task left
        # on the loop: a background task that ignored its cancellation (abandoned, named in
        # the report) would hold the exit until the watchdog. So the process ends as soon
        # as uvicorn's main task is done.
        self.server.should_exit = True
        main_task = self._main_task()
        if main_task is not None:
            main_task.add_done_callback(lambda _: exit_now(exit_code))

    def _main_task(self) -> asyncio.Task[Any] | None:
        for task in asyncio.all_tasks():
            frame = getattr(task.get_coro(), "cr_frame", None)
            if frame is not None and frame.f_locals.get("self") is self.server:
                if frame.f_code.co_name == "serve":
                    return task
        return None
