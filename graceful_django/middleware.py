"""Tracks each request while it is in flight and refuses new ones during a drain.

Under the ASGI wrapper (`graceful_django.asgi`) the wrapper already holds a ticket for the
whole ASGI call, from the first byte to the last chunk; the middleware then only refuses
and marks responses. Under any other server (WSGI, the test client) the middleware holds
the ticket itself, until the response is closed or its streaming content is exhausted.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase

from . import refusal
from .conf import conf
from .core.tracker import Ticket, Tracker
from .operations.health import served_during_drain
from .servers.runserver import arm_under_django_runserver
from .state import get_state

# Set by the ASGI wrapper on the scope of each HTTP call it tracks.
SCOPE_TICKET_KEY = "graceful_django.ticket"


def request_label(method: str, path: str) -> str:
    return f"{method} {path}"


def refusal_response() -> HttpResponse:
    get_state().metrics.refused.inc()
    return refusal.refusal_response(conf.GRACEFUL_RETRY_AFTER)


class GracefulShutdownMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)
        else:
            # Built while Django's runserver builds its WSGI handler: the one moment we see it.
            arm_under_django_runserver(lambda: get_state().coordinator)

    def __call__(self, request: HttpRequest) -> Any:
        if self.async_mode:
            return self.__acall__(request)
        coordinator = get_state().coordinator
        if not coordinator.ready and served_during_drain(request.path):
            return self.get_response(request)  # untracked, as in the ASGI wrapper
        if coordinator.refusing and not _admitted(request):
            return _mark(request, refusal_response(), closing=True)
        ticket = _open_ticket(request, coordinator.requests)
        try:
            response = self.get_response(request)
        except BaseException:
            _close(coordinator.requests, ticket)
            raise
        return _finish(request, response, coordinator.requests, ticket)

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        coordinator = get_state().coordinator
        if not coordinator.ready and served_during_drain(request.path):
            return await self.get_response(request)  # type: ignore[no-any-return]
        if coordinator.refusing and not _admitted(request):
            return _mark(request, refusal_response(), closing=True)
        ticket = _open_ticket(request, coordinator.requests)
        try:
            response = await self.get_response(request)
        except BaseException:  # CancelledError too: the client went away
            _close(coordinator.requests, ticket)
            raise
        return _finish(request, response, coordinator.requests, ticket)


def _admitted(request: HttpRequest) -> bool:
    """The ASGI wrapper admitted this request before the drain (its body may have been
    arriving since): it is served, not refused."""
    scope = getattr(request, "scope", None)
    return scope is not None and SCOPE_TICKET_KEY in scope


def _open_ticket(request: HttpRequest, tracker: Tracker) -> Ticket | None:
    if _admitted(request):
        return None
    return tracker.open(request_label(request.method or "", request.path))


def _close(tracker: Tracker, ticket: Ticket | None) -> None:
    if ticket is not None:
        tracker.close(ticket)


def _mark(request: HttpRequest, response: HttpResponseBase, *, closing: bool) -> HttpResponseBase:
    # WSGI forbids hop-by-hop headers; ASGI servers honour Connection: close.
    if closing and hasattr(request, "scope"):
        response["Connection"] = "close"
    return response


def _finish(
    request: HttpRequest, response: HttpResponseBase, tracker: Tracker, ticket: Ticket | None
) -> HttpResponseBase:
    _mark(request, response, closing=not get_state().coordinator.ready)
    if ticket is None:
        return response
    # Django calls the closers once the body is sent (WSGI servers call close() too).
    response._resource_closers.append(lambda: tracker.close(ticket))  # type: ignore[attr-defined]
    if response.streaming:
        # A streaming response stays in flight until its last chunk, even if close() is late.
        content = response.streaming_content  # type: ignore[attr-defined]
        if response.is_async:  # type: ignore[attr-defined]
            response.streaming_content = _track_async(content, tracker, ticket)  # type: ignore[attr-defined]
        else:
            response.streaming_content = _track_sync(content, tracker, ticket)  # type: ignore[attr-defined]
    return response


def _track_sync(content: Iterator[bytes], tracker: Tracker, ticket: Ticket) -> Iterator[bytes]:
    try:
        yield from content
    finally:
        tracker.close(ticket)


async def _track_async(
    content: AsyncIterator[bytes], tracker: Tracker, ticket: Ticket
) -> AsyncIterator[bytes]:
    try:
        async for chunk in content:
            yield chunk
    finally:
        tracker.close(ticket)


__all__ = ["GracefulShutdownMiddleware", "SCOPE_TICKET_KEY", "refusal_response"]
