"""Shutdown hooks for the tests; each writes a `Write(kind="hook", token=<name>)` row.

Used by real server processes through `TEST_GRACEFUL_HOOKS` (see tests/settings.py) and
in-process. The four forms of an entry are all here: sync and async functions, a class
and an instance with `on_shutdown`.
"""

from __future__ import annotations

import asyncio
import os
import time
import urllib.request

from graceful_django.state import get_state
from project.demo.models import Write


def write(token: str) -> None:
    Write.objects.create(kind="hook", token=token)


def p100() -> None:
    write("p100")


async def p50() -> None:
    await Write.objects.acreate(kind="hook", token="p50")


class ZeroFirst:
    """A class: instantiated without arguments; its attributes give name and priority."""

    name = "zero-first"
    priority = 0

    def on_shutdown(self) -> None:
        write(self.name)


class _ZeroSecond:
    name = "zero-second"
    priority = 0

    async def on_shutdown(self) -> None:
        await Write.objects.acreate(kind="hook", token=self.name)


zero_second = _ZeroSecond()  # an instance


def minus100() -> None:
    write("minus100")


def boom() -> None:
    raise RuntimeError("boom from a hook")


async def async_boom() -> None:
    raise ValueError("async boom from a hook")


def sleepy() -> None:
    """A sync hook that hangs past any timeout: a thread cannot be cancelled."""
    time.sleep(60)


async def async_sleepy() -> None:
    """An async hook that even swallows its cancellation."""
    while True:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            continue


def after_tasks() -> None:
    """Records how much background work was still tracked when the hooks started."""
    write(f"after-tasks:{len(get_state().coordinator.tasks)}")


def ask_own_server() -> None:
    """A before_drain hook: its own server must still answer (the listener still open)."""
    with urllib.request.urlopen(f"{os.environ['TEST_SELF_URL']}/ping", timeout=10) as response:
        write(f"own-server:{response.status}")


def save_state() -> None:
    """GRACEFUL_SAVE_STATE target of the tests."""
    Write.objects.create(kind="state", token="saved")


async def async_save_state() -> None:
    await Write.objects.acreate(kind="state", token="saved-async")


not_callable = 42


async def blocks_the_loop() -> None:
    """Holds the event loop for a second, so that a request sent meanwhile waits unread in
    its socket's buffer until the connections close (tests/test_connections.py)."""
    print("HOOK_BLOCKS_LOOP", flush=True)
    time.sleep(1)  # blocking on purpose: the loop reads nothing meanwhile


def announce() -> None:
    print(f"BEFORE_DRAIN_HOOK ran in {os.getpid()}", flush=True)
