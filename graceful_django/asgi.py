"""The ASGI wrapper that makes a Django + Channels site shut down gracefully.

    application = GracefulShutdown(ProtocolTypeRouter({...}))

It arms the signal handlers for the server it runs under (daphne at import time, uvicorn
and other servers at ASGI lifespan startup), tracks every HTTP call from its first byte to
its last chunk, refuses new work with a 503 during a drain, and answers lifespan shutdown
once the shutdown sequence is over.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from typing import Any

from .conf import conf
from .lifecycle import Lifecycle, get_lifecycle
from .metrics import Metrics
from .middleware import SCOPE_TICKET_KEY, request_label
from .operations.health import is_health_path
from .servers.base import GenericAdapter, ServerAdapter
from .servers.daphne import DaphneAdapter, running_under_daphne
from .servers.uvicorn import UvicornAdapter, current_uvicorn_server
from .websockets.registry import serve_websocket

logger = logging.getLogger("graceful_django")

Scope = dict[str, Any]
ASGIApp = Any


class GracefulShutdown:
    def __init__(self, app: ASGIApp, lifecycle: Lifecycle | None = None) -> None:
        self.app = app
        self.lifecycle = lifecycle or get_lifecycle()
        if running_under_daphne():
            arm_under_daphne(self.lifecycle)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        elif kind == "websocket":
            await serve_websocket(self.app, self.lifecycle.coordinator, scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _http(self, scope: Scope, receive: Any, send: Any) -> None:
        if not self.lifecycle.attached:
            attach_without_lifespan(self.lifecycle)
        coordinator = self.lifecycle.coordinator
        if coordinator.refusing:
            if is_health_path(scope.get("path", "")):
                # Probes must see the drain and must not hold it up: served, untracked.
                await self.app(scope, receive, send)
                return
            await send_refusal(send)
            return
        requests = coordinator.requests
        ticket = requests.open(request_label(scope.get("method", ""), scope.get("path", "")))
        scope[SCOPE_TICKET_KEY] = ticket
        try:
            await self.app(scope, receive, send)
        finally:
            requests.close(ticket)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if not self.lifecycle.attached:
                    server = current_uvicorn_server()
                    adapter: ServerAdapter = (
                        UvicornAdapter(server) if server is not None else _generic_adapter()
                    )
                    self.lifecycle.attach(adapter, asyncio.get_running_loop())
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                # Started by our signal handler already, or by the server itself (reload,
                # --limit-max-requests): either way the server waits for the whole sequence.
                await self.lifecycle.request_shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return


async def send_refusal(send: Any) -> None:
    Metrics.get_instance().refused.inc()
    body = b"Service is shutting down; retry shortly.\n"
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                (b"retry-after", str(conf.GRACEFUL_RETRY_AFTER).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


_arm_lock = threading.Lock()
_armed_daphne = False
_warned_not_main_thread = False


def arm_under_daphne(lifecycle: Lifecycle) -> None:
    """At import time: catch a signal now, take over from Twisted once the reactor runs."""
    global _armed_daphne
    with _arm_lock:
        if _armed_daphne:
            return
        _armed_daphne = True
    adapter = DaphneAdapter()
    if threading.current_thread() is threading.main_thread():
        lifecycle.install_signal_handlers()
    adapter.when_running(lambda loop: lifecycle.attach(adapter, loop))


def _generic_adapter() -> GenericAdapter:
    return GenericAdapter(previous_handler=signal.getsignal(signal.SIGTERM))


def attach_without_lifespan(lifecycle: Lifecycle) -> None:
    """A server that sent no lifespan startup (or `--lifespan off`): arm on first request."""
    global _warned_not_main_thread
    if threading.current_thread() is not threading.main_thread():
        if not _warned_not_main_thread:
            _warned_not_main_thread = True
            logger.warning("not armed: signal handlers can only be installed in the main thread")
        return
    lifecycle.attach(_generic_adapter(), asyncio.get_running_loop())
