"""Views that start tracked background work, for the shutdown tests.

Every piece of work writes a row when it stops, so the test can tell from the row ids that
it stopped before the hooks ran (the hook `after_tasks` writes its row after them).
"""

from __future__ import annotations

import asyncio
import threading
import time

from django.http import HttpRequest, JsonResponse

from graceful_django import tasks
from project.demo.models import Write


async def _loop_until_cancelled(token: str) -> None:
    try:
        while True:
            await asyncio.sleep(0.05)  # stands for a unit of periodic work
    except asyncio.CancelledError:
        await Write.objects.acreate(kind="stopped", token=token)
        raise


async def _needs(seconds: float, token: str) -> None:
    await asyncio.sleep(seconds)
    await Write.objects.acreate(kind="shielded", token=token)


async def _swallows_cancellation(token: str) -> None:
    while True:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            await Write.objects.acreate(kind="swallowed", token=token)


def _thread_loop(token: str):
    def run(stop: threading.Event) -> None:
        while not stop.wait(0.05):  # a unit of work per tick, until told to stop
            pass
        Write.objects.create(kind="stopped", token=token)

    return run


async def start_tasks(request: HttpRequest) -> JsonResponse:
    """Async view: `count` looping asyncio tasks, started on the loop directly."""
    count = int(request.GET.get("count", "10"))
    for index in range(count):
        tasks.start_task(_loop_until_cancelled(f"task-{index}"), name=f"loop-{index}")
    return JsonResponse({"started": count})


def start_threads(request: HttpRequest) -> JsonResponse:
    """Sync view: `count` threads running loops until their stop event is set."""
    count = int(request.GET.get("count", "2"))
    for index in range(count):
        tasks.start_thread(_thread_loop(f"thread-{index}"), name=f"worker-{index}")
    return JsonResponse({"started": count})


def start_shielded(request: HttpRequest) -> JsonResponse:
    """Sync view (worker thread): a must-finish task handed to the server's loop."""
    seconds = float(request.GET.get("seconds", "1"))
    started = time.time()
    tasks.start_task(_needs(seconds, "shielded"), name="must-finish", shield=True)
    return JsonResponse({"started": started})


async def start_stubborn(request: HttpRequest) -> JsonResponse:
    tasks.start_task(_swallows_cancellation("stubborn"), name="stubborn")
    return JsonResponse({"started": 1})
