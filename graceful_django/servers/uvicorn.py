"""Cooperating with uvicorn's own drain instead of fighting it.

uvicorn installs its SIGTERM/SIGINT handler (`Server.handle_exit`) before it sends the ASGI
lifespan startup, so at that moment the handler tells us the server. On `should_exit`
uvicorn closes its listeners, answers in-flight requests with `Connection: close`, closes
idle connections and websockets (with 1012), waits for its tasks, then sends lifespan
shutdown, which our wrapper answers once the rest of the sequence is done.
"""

from __future__ import annotations

import signal
from typing import Any

from .base import ServerAdapter


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

    def stop_accepting(self) -> None:
        # Closing the listeners now rather than on uvicorn's next 0.1 s tick.
        for listener in getattr(self.server, "servers", []):
            listener.close()
        # Not handle_exit(): it would re-raise the signal at exit, turning a clean
        # shutdown into a death by SIGTERM (exit status 143).
        self.server.should_exit = True

    async def finish(self, exit_code: int) -> None:
        # uvicorn exits by itself once our lifespan shutdown answers.
        self.server.should_exit = True
