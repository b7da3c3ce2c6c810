"""Issue 4: tracked background work, stopped at shutdown; in-process and in real servers."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from django.db import connection

from graceful_django import db, tasks
from graceful_django.conf import conf
from graceful_django.core.background import BackgroundWork, ShuttingDown
from graceful_django.core.deadline import Deadline
from graceful_django.core.tracker import Tracker
from graceful_django.state import get_state
from project.demo.models import Write

SERVERS = ["daphne", "uvicorn"]


def run(coro: Any) -> Any:
    # Not asyncio.run: its cleanup would wait forever for a task that swallows cancellation,
    # which the shutdown abandoned on purpose.
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


def new_work(loop: asyncio.AbstractEventLoop | None = None) -> tuple[BackgroundWork, Tracker]:
    tracker = Tracker("task")
    return BackgroundWork(tracker, lambda: loop), tracker


async def looping(stopped: list[str], token: str) -> None:
    try:
        while True:
            await asyncio.sleep(0.01)
    except asyncio.CancelledError:
        stopped.append(token)
        raise


async def stubborn() -> None:
    while True:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            continue


def watching(stopped: list[str], token: str) -> Any:
    def target(stop: threading.Event) -> None:
        stop.wait()
        stopped.append(token)

    return target


@pytest.fixture(autouse=True)
def fresh_background_work() -> Iterator[None]:
    get_state().reset()
    yield
    get_state().reset()


# In-process ----------------------------------------------------------------------------


def test_tasks_cancelled_threads_stopped_shielded_awaited_stubborn_named():
    async def scenario() -> tuple[list[str], list[str], int]:
        work, tracker = new_work()
        stopped: list[str] = []
        for index in range(10):
            work.start_task(looping(stopped, f"task-{index}"), name=f"loop-{index}")
        for index in range(2):
            work.start_thread(watching(stopped, f"thread-{index}"), name=f"worker-{index}")

        async def must_finish() -> None:
            await asyncio.sleep(0.4)
            stopped.append("shielded")

        work.start_task(must_finish(), name="must-finish", shield=True)
        work.start_task(stubborn(), name="stubborn")
        await asyncio.sleep(0)  # let every task reach its first await
        assert len(tracker) == 14
        forced = await work.cancel_all(Deadline(5), timeout=0.2)
        return forced, stopped, len(tracker)

    forced, stopped, left = run(scenario())
    assert forced == ["task stubborn ignored cancellation"]
    assert sorted(stopped) == sorted(
        [f"task-{i}" for i in range(10)] + ["thread-0", "thread-1", "shielded"]
    )
    assert stopped[-1] == "shielded"  # not cancelled: it ran to its end
    assert left == 1  # the stubborn task, still tracked, named by the watchdog if need be


def test_shielded_task_and_deaf_thread_are_bounded_by_the_deadline():
    async def scenario() -> list[str]:
        work, _ = new_work()
        work.start_task(asyncio.sleep(5), name="long", shield=True)
        work.start_thread(lambda stop: time.sleep(1), name="deaf")
        return await work.cancel_all(Deadline(0.3), timeout=0.1)

    forced = run(scenario())
    # Within the 0.3 s deadline, neither the 1 s thread nor the 5 s shielded task finished.
    assert forced == ["thread deaf ignored its stop event", "shielded task long did not finish"]


def test_a_task_started_from_a_sync_thread_runs_on_the_loop():
    async def scenario() -> tuple[int, threading.Thread, threading.Thread, int]:
        loop = asyncio.get_running_loop()
        work, tracker = new_work(loop)
        ran_in: list[threading.Thread] = []

        async def answer() -> int:
            ran_in.append(threading.current_thread())
            return 42

        def sync_view() -> concurrent.futures.Future[Any]:
            future = work.start_task(answer(), name="from-thread")
            assert isinstance(future, concurrent.futures.Future)
            return future

        future = await asyncio.to_thread(sync_view)
        result = await asyncio.wrap_future(future)
        return result, ran_in[0], threading.current_thread(), len(tracker)

    result, ran_in, loop_thread, left = run(scenario())
    assert result == 42
    assert ran_in is loop_thread
    assert left == 0


def test_nothing_starts_once_the_work_was_cancelled():
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        work, tracker = new_work(loop)
        await work.cancel_all(Deadline(1), timeout=1)
        with pytest.raises(ShuttingDown):
            work.start_task(asyncio.sleep(1), name="late")
        with pytest.raises(ShuttingDown):
            work.start_thread(lambda stop: None, name="late-thread")
        # From a thread too (the loop sees `stopping` when the task reaches it).
        with pytest.raises(ShuttingDown):
            await asyncio.to_thread(work.start_task, asyncio.sleep(1), name="late-sync")
        assert len(tracker) == 0

    run(scenario())


def test_a_sync_caller_without_a_server_loop_is_told_so():
    work, _ = new_work(None)
    with pytest.raises(RuntimeError, match="no server event loop"):
        work.start_task(asyncio.sleep(1), name="orphan")


def test_a_task_outliving_its_request_uses_the_shared_sync_thread():
    """Not a new executor thread (and DB connection) per finished request, never shut down."""
    from asgiref.sync import ThreadSensitiveContext, sync_to_async

    def which() -> threading.Thread:
        return threading.current_thread()

    async def after(gate: asyncio.Event) -> threading.Thread:
        await gate.wait()
        return await sync_to_async(which)()

    async def scenario() -> tuple[threading.Thread, threading.Thread]:
        gate = asyncio.Event()
        async with ThreadSensitiveContext():  # what Django's ASGIHandler wraps a request in
            task = tasks.start_task(after(gate), name="outlives-request")
        gate.set()
        assert isinstance(task, asyncio.Task)
        return await task, await sync_to_async(which)()

    in_task, shared = run(scenario())
    assert in_task is shared


@pytest.mark.django_db(transaction=True)
def test_module_api_tracks_in_the_coordinator_and_threads_close_their_connection():
    pids: list[int] = []

    def uses_the_orm(stop: threading.Event) -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            pids.append(cursor.fetchone()[0])
        stop.wait()

    async def scenario() -> list[str]:
        stopped: list[str] = []
        tasks.start_task(looping(stopped, "module-task"), name="module-task")
        tasks.start_thread(uses_the_orm, name="orm-thread")
        await asyncio.sleep(0.05)
        assert get_state().coordinator.tasks.labels()[0].startswith("task module-task")
        forced = await get_state().background.cancel_all(Deadline(5), conf.GRACEFUL_TASK_TIMEOUT)
        assert stopped == ["module-task"]
        return forced

    assert run(scenario()) == []
    assert len(get_state().coordinator.tasks) == 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pids[0]])
        assert cursor.fetchone()[0] == 0  # the thread's connection closed when it ended
    db.close_all_connections(get_state().databases)


# Real server processes -----------------------------------------------------------------


@pytest.mark.parametrize("kind", SERVERS)
def test_background_work_stops_before_the_hooks_run(server_factory, kind):
    hooks = [{"hook": "tests.testapp.hooks.after_tasks", "name": "after-tasks"}]
    server = server_factory(
        kind,
        env={
            "TEST_GRACEFUL_HOOKS": json.dumps(hooks),
            "GRACEFUL_TASK_TIMEOUT": "0.5",
            "GRACEFUL_TIMEOUT": "10",
        },
    )
    with httpx.Client(base_url=server.base_url, timeout=10) as client:
        assert client.get("/bg/tasks?count=10").json() == {"started": 10}
        assert client.get("/bg/threads?count=2").json() == {"started": 2}
        assert client.get("/bg/stubborn").json() == {"started": 1}
        # Started from a sync view (a worker thread), handed to the server's loop.
        shielded_started = client.get("/bg/shielded?seconds=1").json()["started"]
    server.send(signal.SIGTERM)
    code = server.wait_exit(15)

    stopped = list(Write.objects.filter(kind="stopped").values_list("id", "token"))
    assert sorted(token for _, token in stopped) == sorted(
        [f"task-{i}" for i in range(10)] + ["thread-0", "thread-1"]
    ), server.output
    shielded = Write.objects.get(kind="shielded")
    assert shielded.created.timestamp() - shielded_started >= 1.0  # it ran its full second
    hook = Write.objects.get(kind="hook")
    assert hook.token == "after-tasks:1"  # only the stubborn task was still tracked
    assert hook.id > max(row_id for row_id, _ in stopped)
    assert hook.id > shielded.id
    assert Write.objects.filter(kind="swallowed").exists()  # it did see its cancellation
    assert "task stubborn ignored cancellation" in server.output
    # Within the deadline: the shielded task had its 1 s, the stubborn one was abandoned.
    assert code == 0, server.output
    assert "GRACEFUL_TIMEOUT of" not in server.output
