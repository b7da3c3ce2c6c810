"""Slow views that write a row each, so a test can tell an acknowledged write from a lost one."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import render

from .models import Write

logger = logging.getLogger(__name__)


def _seconds(request: HttpRequest) -> float:
    return min(float(request.GET.get("seconds", "1.5")), 120.0)


def ping(request: HttpRequest) -> HttpResponse:
    return HttpResponse("pong")


async def ping_async(request: HttpRequest) -> HttpResponse:
    return HttpResponse("pong")


def slow_sync(request: HttpRequest) -> JsonResponse:
    token = request.GET.get("token", "")
    Write.objects.create(kind="sync", token=token)
    logger.info("wrote sync %s", token)
    time.sleep(_seconds(request))  # stands for real work done after the write
    return JsonResponse({"token": token, "kind": "sync"})


async def slow_async(request: HttpRequest) -> JsonResponse:
    token = request.GET.get("token", "")
    await Write.objects.acreate(kind="async", token=token)
    logger.info("wrote async %s", token)
    await asyncio.sleep(_seconds(request))
    return JsonResponse({"token": token, "kind": "async"})


async def stream(request: HttpRequest) -> StreamingHttpResponse:
    token = request.GET.get("token", "")
    chunks = int(request.GET.get("chunks", "5"))
    interval = _seconds(request) / max(chunks, 1)

    async def body() -> AsyncIterator[bytes]:
        for index in range(chunks):
            await asyncio.sleep(interval)
            yield f"chunk {index}\n".encode()
        await Write.objects.acreate(kind="stream", token=token)
        yield b"done\n"

    return StreamingHttpResponse(body(), content_type="text/plain")


def page(request: HttpRequest) -> HttpResponse:
    """A realistic page: a session, an ORM query and a template (the throughput benchmark's)."""
    visits = int(request.session.get("visits", 0)) + 1
    request.session["visits"] = visits
    writes = list(Write.objects.order_by("-id")[:20])
    return render(request, "demo/page.html", {"visits": visits, "writes": writes})
