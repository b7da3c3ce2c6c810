"""The tracker wakes its waiters on the last close, from any thread, without polling."""

from __future__ import annotations

import asyncio
import threading

from graceful_django.core.deadline import Deadline
from graceful_django.core.tracker import Tracker


def test_async_wait_is_woken_by_a_close_from_another_thread():
    tracker = Tracker("request")
    tickets = [tracker.open(f"GET /{i}") for i in range(3)]

    async def main() -> bool:
        closer = threading.Timer(0.05, lambda: any(map(tracker.close, tickets)))
        closer.start()
        return await tracker.wait_empty(timeout=5)

    # Woken by the last close, not by its 5 s timeout (which would return False).
    assert asyncio.run(main())
    assert len(tracker) == 0


def test_async_wait_times_out_and_names_what_is_left():
    tracker = Tracker("request")
    tracker.open("POST /upload")
    assert asyncio.run(tracker.wait_empty(timeout=0.05)) is False
    assert tracker.labels()[0].startswith("POST /upload (")


def test_blocking_wait_and_idempotent_close():
    tracker = Tracker("task")
    ticket = tracker.open("job")
    threading.Timer(0.02, tracker.close, [ticket]).start()
    assert tracker.wait_empty_blocking(timeout=5)
    tracker.close(ticket)  # a second close changes nothing
    assert len(tracker) == 0 and tracker.total_opened == 1


def test_observers_see_every_open_and_close():
    tracker = Tracker("websocket")
    seen: list[int] = []
    tracker.observers.append(seen.append)
    ticket = tracker.open("ws")
    tracker.close(ticket)
    tracker.close(ticket)
    assert seen == [1, -1]


def test_deadline_shares_never_pass_the_deadline():
    deadline = Deadline(0.5)
    assert deadline.share(10) <= 0.5
    assert deadline.share(0.1) == 0.1
    assert not deadline.expired
