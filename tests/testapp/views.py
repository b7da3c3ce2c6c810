"""Views for the connection and load tests (tests/test_connections.py, test_load_and_kill.py)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse

from project.demo.models import Write

logger = logging.getLogger("project.demo")

MEGABYTE = 1024 * 1024


def big(request: HttpRequest) -> HttpResponse:
    """A plain (not streaming) response of ?mb= megabytes: daphne buffers all of it at once."""
    megabytes = min(int(request.GET.get("mb", "20")), 100)
    return HttpResponse(b"x" * (megabytes * MEGABYTE), content_type="application/octet-stream")


def upload(request: HttpRequest) -> JsonResponse:
    """Stores a row once the whole body arrived, so a test can tell a served upload."""
    token = request.GET.get("token", "")
    size = len(request.body)
    Write.objects.create(kind="upload", token=token)
    return JsonResponse({"token": token, "size": size})


async def write_async(request: HttpRequest) -> JsonResponse:
    """A POST that writes a row (load test)."""
    token = request.GET.get("token", "")
    await Write.objects.acreate(kind="post", token=token)
    await asyncio.sleep(float(request.GET.get("seconds", "0")))
    return JsonResponse({"token": token})


async def broken_stream(request: HttpRequest) -> StreamingHttpResponse:
    """A streaming response whose body fails after its first chunk (a broken upstream)."""

    async def body() -> AsyncIterator[bytes]:
        yield b"first chunk\n"
        logger.info("broken stream started")
        await asyncio.sleep(float(request.GET.get("seconds", "0.5")))
        raise RuntimeError("the stream's source failed")

    return StreamingHttpResponse(body(), content_type="text/plain")


WEBSOCKET_PAGE = """<!doctype html>
<html><head><title>ws</title></head><body><script>
window.closeEvent = null;
window.opened = false;
const ws = new WebSocket(`ws://${location.host}/ws/test/record/?token=browser`);
ws.onopen = () => { window.opened = true; };
ws.onclose = (event) => {
  window.closeEvent = {code: event.code, reason: event.reason, wasClean: event.wasClean};
};
</script></body></html>
"""


def websocket_page(request: HttpRequest) -> HttpResponse:
    """A page whose script opens a websocket and keeps what its CloseEvent said."""
    return HttpResponse(WEBSOCKET_PAGE)
