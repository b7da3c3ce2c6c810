"""The middleware on both paths: refusal, Connection: close, and tracking until the last chunk."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import async_to_sync
from django.http import HttpResponse, StreamingHttpResponse
from django.test import AsyncRequestFactory, RequestFactory, override_settings

from graceful_django.middleware import SCOPE_TICKET_KEY, GracefulShutdownMiddleware
from graceful_django.state import get_state
from graceful_django.testing import draining


@pytest.fixture(autouse=True)
def fresh_coordinator():
    get_state().reset()
    yield get_state().coordinator
    get_state().reset()


def sync_middleware(response_factory=lambda request: HttpResponse("ok")):
    return GracefulShutdownMiddleware(response_factory)


def async_middleware(response_factory=lambda request: HttpResponse("ok")):
    async def get_response(request):
        return response_factory(request)

    return GracefulShutdownMiddleware(get_response)


def test_sync_request_is_in_flight_until_the_response_is_closed():
    requests = get_state().coordinator.requests
    response = sync_middleware()(RequestFactory().get("/orders"))
    assert requests.labels()[0].startswith("GET /orders")
    response.close()
    assert len(requests) == 0


@override_settings(GRACEFUL_RETRY_AFTER=7)
def test_sync_refusal_has_retry_after_and_no_hop_by_hop_header():
    with draining():
        response = sync_middleware()(RequestFactory().get("/"))
    assert response.status_code == 503
    assert response["Retry-After"] == "7"
    assert "Connection" not in response  # WSGI forbids hop-by-hop headers


def test_async_refusal_closes_the_connection():
    with draining():
        response = async_to_sync(async_middleware())(AsyncRequestFactory().get("/"))
    assert response.status_code == 503
    assert response["Connection"] == "close"
    assert response["Retry-After"] == "5"


def test_draining_without_refusing_serves_with_connection_close():
    with draining(refuse=False):
        response = async_to_sync(async_middleware())(AsyncRequestFactory().get("/"))
    assert response.status_code == 200
    assert response["Connection"] == "close"
    response.close()


def test_streaming_response_is_in_flight_until_its_last_chunk():
    requests = get_state().coordinator.requests

    async def chunks():
        for index in range(3):
            await asyncio.sleep(0)
            yield f"{index}".encode()

    middleware = async_middleware(lambda request: StreamingHttpResponse(chunks()))
    response = async_to_sync(middleware)(AsyncRequestFactory().get("/stream"))

    async def consume() -> list[bytes]:
        received = []
        async for chunk in response:
            assert len(requests) == 1
            received.append(chunk)
        return received

    assert async_to_sync(consume)() == [b"0", b"1", b"2"]
    assert len(requests) == 0


def test_an_exception_in_the_view_ends_the_request():
    def boom(request):
        raise RuntimeError("view failed")

    with pytest.raises(RuntimeError):
        sync_middleware(boom)(RequestFactory().get("/"))
    assert len(get_state().coordinator.requests) == 0


def test_under_the_asgi_wrapper_the_wrapper_owns_the_ticket():
    request = AsyncRequestFactory().get("/")
    request.scope[SCOPE_TICKET_KEY] = object()  # type: ignore[index]
    response = async_to_sync(async_middleware())(request)
    assert get_state().coordinator.requests.total_opened == 0
    response.close()
