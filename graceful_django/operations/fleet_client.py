"""The command's side of `manage.py drain --fleet`: one signed broadcast, then the replies.

Nobody knows how many processes the fleet has, so replies are collected for a window
(`--window`, 1 s by default) to learn who is there; a drain then goes on until every
process that answered reports itself drained, or until the timeout. Processes answering
late are still counted.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from .fleet import reply_is_genuine, request
from .outcome import EXIT_NO_SERVER, EXIT_OK, EXIT_TIMEOUT, DrainError, Outcome
from .progress import ProgressView
from .wording import plural

DEFAULT_WINDOW = 1.0


class FleetDrain:
    def __init__(
        self,
        layer: Any,
        group: str,
        view: ProgressView,
        window: float = DEFAULT_WINDOW,
        *,
        delay: bool = True,
    ) -> None:
        self.layer = layer
        self.group = group
        self.view = view
        self.window = window
        self.delay = delay
        self.statuses: dict[str, dict[str, Any]] = {}
        self.errors: dict[str, str] = {}
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def run(self, action: str, timeout: float) -> Outcome:
        started = time.monotonic()
        channel = await self.layer.new_channel("graceful_django.reply.")
        message = request(action, channel, follow=timeout, delay=self.delay)
        # One receiver for the whole run: cancelling channels-redis's receive() over and
        # over (a timeout per wait) can lose a message that arrives at that instant.
        receiver = asyncio.ensure_future(self._receive(channel, message["nonce"]))
        try:
            await self.layer.group_send(self.group, message)
            await self._collect(action, started, timeout)
        finally:
            receiver.cancel()
        self.view.finish(self.statuses)
        code, text = self._result(action, timeout)
        elapsed = time.monotonic() - started
        return Outcome(action, code, text, dict(self.statuses), elapsed, timeout)

    async def _receive(self, channel: str, nonce: str) -> None:
        while True:
            reply = await self.layer.receive(channel)
            if isinstance(reply, dict) and reply_is_genuine(reply, nonce):
                self.queue.put_nowait(reply)

    def _finished(self, action: str) -> bool:
        if action != "drain" or not self.statuses:
            return False
        return all(status["drained"] for status in self.statuses.values())

    async def _collect(self, action: str, started: float, timeout: float) -> None:
        window_end = started + self.window
        deadline = started + (max(timeout, self.window) if action == "drain" else self.window)
        while True:
            now = time.monotonic()
            if now >= deadline or (now >= window_end and self._finished(action)):
                return
            wake_at = window_end if now < window_end else deadline
            try:
                reply = await asyncio.wait_for(self.queue.get(), wake_at - now)
            except TimeoutError:
                continue
            status = reply.get("status")
            if not isinstance(status, dict):
                continue
            key = f"{status.get('host')}:{status.get('pid')}"
            self.statuses[key] = {**status, "fleet": True}
            if not reply.get("ok"):
                self.errors[key] = str(reply.get("error"))
            self.view.update(key, self.statuses[key])

    def _result(self, action: str, timeout: float) -> tuple[int, str]:
        count = len(self.statuses)
        if not count:
            raise DrainError(
                f"no server of this project answered on channel layer group {self.group} "
                f"within {self.window:g}s.",
                EXIT_NO_SERVER,
            )
        if action == "drain":
            busy = [key for key, status in self.statuses.items() if not status["drained"]]
            if busy:
                return EXIT_TIMEOUT, f"timed out after {timeout:g}s; not drained: {', '.join(busy)}"
            return EXIT_OK, f"{plural(count, 'server')} drained"
        if action == "undrain":
            failed = [key for key, status in self.statuses.items() if not status["ready"]]
            if failed:
                return EXIT_TIMEOUT, f"could not undrain {', '.join(failed)}"
            return EXIT_OK, f"{plural(count, 'server')} serving again"
        return EXIT_OK, f"{plural(count, 'server')} answered"
