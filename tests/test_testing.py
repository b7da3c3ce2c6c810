"""The helpers of graceful_django.testing tell the truth on every path, ASGI included."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import async_to_sync

from graceful_django.asgi import GracefulShutdown
from graceful_django.testing import draining, run_shutdown_sequence


async def ok_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


async def status_of(app: Any, path: str) -> int:
    """One real ASGI HTTP call through `app`; the status it answered."""
    scope = {"type": "http", "method": "GET", "path": path, "headers": []}
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return int(sent[0]["status"])


@pytest.mark.django_db
def test_draining_refuses_through_the_asgi_wrapper_after_a_test_shutdown():
    wrapper = GracefulShutdown(ok_app)
    assert async_to_sync(status_of)(wrapper, "/orders") == 200
    # A shutdown run by a test resets the process state; the wrapper must follow it.
    async_to_sync(run_shutdown_sequence)(timeout=5)
    with draining():
        assert async_to_sync(status_of)(wrapper, "/orders") == 503
    assert async_to_sync(status_of)(wrapper, "/orders") == 200
