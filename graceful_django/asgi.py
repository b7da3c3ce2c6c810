"""The ASGI wrapper that makes a Django + Channels site shut down gracefully.

    application = GracefulShutdown(ProtocolTypeRouter({...}))

It arms the signal handlers for the server it runs under (daphne and Channels' runworker at
import time, told by who imports the application; uvicorn, hypercorn, granian and other
servers at ASGI lifespan startup), tracks every HTTP call from its first byte to its last
chunk, serves what reaches it during a drain with `Connection: close` (a 503 past the
serving cutoff, or in "refuse" mode), and answers lifespan shutdown once the shutdown
sequence is over.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import signal
import threading
from typing import Any, cast

from asgiref.typing import (
    ASGIReceiveCallable,
    ASGISendCallable,
    HTTPScope,
    Scope,
)

from .conf import conf
from .hooks.before_drain import BeforeDrainHooks
from .lifecycle import Lifecycle, StepsFactory
from .middleware import SCOPE_TICKET_KEY, request_label
from .operations.health import served_during_drain
from .refusal import closing_send, send_http_refusal
from .servers.base import GenericAdapter, ServerAdapter
from .servers.daphne import DaphneAdapter, running_under_daphne
from .servers.lifespan import lifespan_adapter
from .servers.runworker import arm_under_runworker, running_under_runworker
from .state import ProcessState, get_state
from .steps import build_steps
from .websockets.registry import serve_websocket

logger = logging.getLogger("graceful_django")


# The wrapped application: any ASGI 3 callable (asgiref.typing.ASGI3Application would turn
# away the many apps typed with plain dicts).
ASGIApp = Any


class GracefulShutdown:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        state = get_state()
        if running_under_daphne():
            arm_under_daphne(state)
        elif running_under_runworker() and not state.lifecycle.armed_for_runworker:
            state.lifecycle.armed_for_runworker = True
            arm_under_runworker(state.lifecycle, functools.partial(_attach, state))

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "websocket":
            state = get_state()
            # Our own keys go into the scope (the consumer finds its connection there).
            raw = cast(dict[str, Any], scope)
            await serve_websocket(self.app, state.websockets, state.coordinator, raw, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _http(
        self, scope: HTTPScope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        state = get_state()
        if not state.lifecycle.attached:
            attach_without_lifespan(state)
        coordinator = state.coordinator
        adapter = state.lifecycle.adapter
        # Admitted by the server before the drain (its body was still arriving): served.
        admitted = adapter.admitted_ticket(send) if coordinator.delay_over and adapter else None
        if admitted is None and not coordinator.ready and served_during_drain(scope["path"]):
            # Probes and scrapes must see the drain and must not hold it up: served, untracked.
            await self.app(scope, receive, send)
            return
        requests = coordinator.requests
        if admitted is not None:
            ticket = admitted
        elif coordinator.refusing:
            state.metrics.refused.inc()
            await send_http_refusal(send, conf.GRACEFUL_RETRY_AFTER)
            return
        else:
            ticket = requests.open(request_label(scope["method"], scope["path"]))
        kept_alive = coordinator.ready
        if not kept_alive:
            # Served during a drain: the client must open its next request elsewhere.
            send = closing_send(send)
        # The middleware sees it there and leaves the tracking to us.
        cast(dict[str, Any], scope)[SCOPE_TICKET_KEY] = ticket
        try:
            await self.app(scope, receive, send)
        finally:
            requests.close(ticket)
            if kept_alive:
                coordinator.note_kept_alive()

    async def _lifespan(self, receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        while True:
            message = await receive()
            lifecycle = get_state().lifecycle
            if message["type"] == "lifespan.startup":
                if not lifecycle.attached:
                    adapter = lifespan_adapter(_generic_adapter, get_state().coordinator)
                    _attach(get_state(), adapter, asyncio.get_running_loop())
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                # Started by our signal handler already, or by the server itself (reload,
                # --limit-max-requests): either way the server waits for the whole sequence.
                await lifecycle.request_shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return


def steps_of(state: ProcessState) -> StepsFactory:
    # A drain request (`manage.py drain`, the preStop) starts the before-drain hooks; the
    # signal's first step then waits for that run.
    before_drain = BeforeDrainHooks(state.lifecycle.progress)
    before_drain.follow(state.coordinator)
    return functools.partial(build_steps, state, before_drain=before_drain)


def _attach(state: ProcessState, adapter: ServerAdapter, loop: asyncio.AbstractEventLoop) -> None:
    state.lifecycle.attach(adapter, loop, steps_of(state))


_arm_lock = threading.Lock()


def arm_under_daphne(state: ProcessState) -> None:
    """At import time: catch a signal now, take over from Twisted once the reactor runs."""
    lifecycle: Lifecycle = state.lifecycle
    with _arm_lock:
        if lifecycle.armed_for_daphne:
            return
        lifecycle.armed_for_daphne = True
    adapter = DaphneAdapter(state.coordinator.requests)
    if threading.current_thread() is threading.main_thread():
        lifecycle.install_signal_handlers()
    else:
        # Django's autoreloader runs runserver in a thread; Ctrl+C ends its process at once.
        logger.warning(
            "not graceful: daphne runs outside the main thread (runserver's autoreloader); "
            "Ctrl+C drops in-flight requests. Use `runserver --noreload` to shut down gracefully"
        )
    adapter.when_running(lambda loop: _attach(state, adapter, loop))


def _generic_adapter() -> GenericAdapter:
    return GenericAdapter(previous_handler=signal.getsignal(signal.SIGTERM))


def attach_without_lifespan(state: ProcessState) -> None:
    """A server that sent no lifespan startup (or `--lifespan off`): arm on first request."""
    lifecycle = state.lifecycle
    if threading.current_thread() is not threading.main_thread():
        if not lifecycle.warned_not_main_thread:
            lifecycle.warned_not_main_thread = True
            logger.warning("not armed: signal handlers can only be installed in the main thread")
        return
    _attach(state, _generic_adapter(), asyncio.get_running_loop())
