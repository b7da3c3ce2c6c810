"""Issue 4: shutdown hooks, in-process (sync and async paths) and in real server processes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import redis
from django.core.cache import caches
from django.core.signals import request_finished
from django.test import override_settings

from graceful_django import db, hooks
from graceful_django.core.deadline import Deadline
from graceful_django.state import get_state
from project.demo.models import Write

H = "tests.testapp.hooks"
# Declared out of order on purpose: 100, 50, 0 (first declared), 0, -100 is the running order.
ORDER_HOOKS = [
    {"hook": f"{H}.minus100", "priority": -100, "name": "minus100"},
    f"{H}.ZeroFirst",  # a class: name and priority 0 from its attributes
    {"hook": f"{H}.p50", "priority": 50, "name": "p50"},  # async function
    f"{H}.zero_second",  # an instance with an async on_shutdown
    {"hook": f"{H}.p100", "priority": 100, "name": "p100"},  # sync function
]
ORDER = ["p100", "p50", "zero-first", "zero-second", "minus100"]
SERVERS = ["daphne", "uvicorn"]


def hook_tokens() -> list[str]:
    return list(Write.objects.filter(kind="hook").order_by("id").values_list("token", flat=True))


def run_all(seconds: float = 10.0, phase: str = hooks.AFTER_DRAIN) -> list[str]:
    # Not asyncio.run: its cleanup would wait forever for a hook that swallows cancellation,
    # which the runner abandoned on purpose.
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(hooks.run_all(Deadline(seconds), phase=phase))
    finally:
        loop.close()


@pytest.fixture(autouse=True)
def close_hook_connections() -> Iterator[None]:
    """Hooks open connections in their own threads; close them so the test DB can be dropped."""
    yield
    db.close_all_connections(get_state().databases)


# In-process: the runner, on asyncio.run's loop -----------------------------------------


@pytest.mark.django_db(transaction=True)
@override_settings(GRACEFUL_HOOKS=ORDER_HOOKS)
def test_hooks_run_by_priority_ties_in_declared_order():
    assert run_all() == []
    assert hook_tokens() == ORDER


@pytest.mark.django_db(transaction=True)
@override_settings(
    GRACEFUL_HOOKS=[
        {"hook": f"{H}.p100", "priority": 100, "name": "p100"},
        {"hook": f"{H}.boom", "priority": 90},
        {"hook": f"{H}.sleepy", "priority": 80, "timeout": 0.2},
        {"hook": f"{H}.async_boom", "priority": 70},
        {"hook": f"{H}.async_sleepy", "priority": 60, "timeout": 0.2},
        {"hook": f"{H}.p50", "priority": 50, "name": "p50"},
    ]
)
def test_raising_and_hanging_hooks_do_not_stop_the_next(caplog):
    forced = run_all()

    assert forced == [
        f"{H}.boom: raised RuntimeError: boom from a hook",
        f"{H}.sleepy: timed out after 0.2s",
        f"{H}.async_boom: raised ValueError: async boom from a hook",
        f"{H}.async_sleepy: timed out after 0.2s",
    ]
    # The hung thread and the task that swallows its cancellation were abandoned (the
    # 60 s sleep and the endless loop were not waited for), and the next hook ran.
    assert hook_tokens() == ["p100", "p50"]
    assert "RuntimeError: boom from a hook" in caplog.text  # the traceback is logged
    assert "Traceback" in caplog.text


@pytest.mark.django_db(transaction=True)
@override_settings(
    GRACEFUL_HOOKS=[
        {"hook": f"{H}.sleepy", "priority": 10, "timeout": 30},
        {"hook": f"{H}.p100", "name": "p100"},
    ],
)
def test_a_hook_never_runs_past_the_deadline():
    forced = run_all(seconds=0.3)
    # Its own 30 s were cut to what was left of the 0.3 s deadline when it started (a few
    # ms less on a loaded machine: the number itself is not the point).
    assert forced[0].startswith(f"{H}.sleepy: timed out after 0.")
    assert forced[1] == "p100: skipped, the deadline was reached"
    assert hook_tokens() == []


@pytest.mark.django_db(transaction=True)
@override_settings(GRACEFUL_HOOKS=[{"hook": f"{H}.p50", "priority": 50, "name": "p50"}])
def test_decorated_hooks_run_with_the_configured_ones():
    @hooks.shutdown_hook(priority=60, timeout=1)
    def decorated_sync() -> None:
        Write.objects.create(kind="hook", token="decorated-sync")

    @hooks.shutdown_hook
    async def decorated_async() -> None:
        await Write.objects.acreate(kind="hook", token="decorated-async")

    try:
        assert [hook.priority for hook in hooks.registered_hooks()][-2:] == [60, 0]
        assert run_all() == []
        assert hook_tokens() == ["decorated-sync", "p50", "decorated-async"]
    finally:
        for func in (decorated_sync, decorated_async):
            hooks.unregister(f"{func.__module__}.{func.__qualname__}")


def test_decorator_rejects_a_bad_priority():
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured, match="priority must be an int"):
        hooks.shutdown_hook(priority="high")(lambda: None)  # type: ignore[call-overload]


def test_sync_hooks_run_in_daemon_threads():
    seen: list[tuple[str, bool]] = []

    @hooks.shutdown_hook(name="which-thread")
    def which_thread() -> None:
        thread = threading.current_thread()
        seen.append((thread.name, thread.daemon))

    try:
        assert run_all() == []
    finally:
        hooks.unregister("which-thread")
    assert seen == [("graceful-hook-which-thread", True)]


# Built-in hooks ------------------------------------------------------------------------


class _Recorder(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        length = int(self.headers["Content-Length"])
        _Recorder.received.append({"path": self.path, "body": json.loads(self.rfile.read(length))})
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def registry() -> Iterator[str]:
    """A real HTTP server standing for the service registry."""
    _Recorder.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_deregister_posts_to_every_url_and_names_the_failures(registry):
    from tests.servers import free_port

    dead = f"http://127.0.0.1:{free_port()}/gone"  # nothing listens there
    with override_settings(GRACEFUL_DEREGISTER_URLS=[f"{registry}/a", dead, f"{registry}/b"]):
        assert run_all() == []  # not after the drain: before it
        forced = run_all(phase=hooks.BEFORE_DRAIN)
    assert [request["path"] for request in _Recorder.received] == ["/a", "/b"]
    assert _Recorder.received[0]["body"]["pid"] == os.getpid()
    assert _Recorder.received[0]["body"]["event"] == "shutdown"
    assert len(forced) == 1
    assert forced[0].startswith("graceful_django.builtin_hooks.deregister: raised RuntimeError")
    assert dead in forced[0]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("function", ["save_state", "async_save_state"])
def test_save_state_calls_the_user_function(function):
    with override_settings(GRACEFUL_SAVE_STATE=f"{H}.{function}"):
        assert run_all() == []
    token = "saved" if function == "save_state" else "saved-async"
    assert list(Write.objects.filter(kind="state").values_list("token", flat=True)) == [token]


def test_close_caches_disconnects_redis():
    name = f"graceful-test-{os.getpid()}"
    observer = redis.Redis(host="127.0.0.1", port=6379)

    def connected() -> int:
        return sum(1 for client in observer.client_list() if client.get("name") == name)

    cache_settings = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:6379/0",
            "OPTIONS": {"client_name": name},
        }
    }
    with override_settings(CACHES=cache_settings):
        caches["default"].set("graceful-test-key", "value")
        # The hook runs in a thread of its own, which has no cache instances: the one used
        # here is known from the end of the "request".
        request_finished.send(sender=None)
        assert connected() == 1
        assert run_all() == []
        assert connected() == 0
    observer.close()


def test_prometheus_multiprocess_files_of_this_process_are_removed(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    live = tmp_path / f"gauge_livesum_{os.getpid()}.db"
    kept = tmp_path / f"counter_{os.getpid()}.db"  # counters outlive the process on purpose
    live.write_bytes(b"")
    kept.write_bytes(b"")
    assert run_all() == []
    assert not live.exists()
    assert kept.exists()


# Real server processes -----------------------------------------------------------------


@pytest.mark.parametrize("kind", SERVERS)
def test_sigterm_runs_hooks_in_order_before_the_database_closes(server_factory, kind):
    app_name = f"graceful-hooks-{kind}"
    server = server_factory(
        kind,
        env={
            "TEST_GRACEFUL_HOOKS": json.dumps(ORDER_HOOKS),
            "DATABASE_APPLICATION_NAME": app_name,
            "REPORT_BACKENDS_OF": app_name,
        },
    )
    server.send(signal.SIGTERM)
    assert server.wait_exit(10) == 0, server.output
    assert hook_tokens() == ORDER
    lines = server.output.splitlines()
    finished = [i for i, line in enumerate(lines) if "finished in" in line and "hook " in line]
    close_db = next(i for i, line in enumerate(lines) if "step: close database connections" in line)
    assert len(finished) == 5 + 1, server.output  # + the built-in close_caches
    assert max(finished) < close_db
    # The hooks' own connections (their threads, the async ORM's thread) were all closed.
    assert "BACKENDS_AT_EXIT=0" in server.output


@pytest.mark.parametrize("kind", SERVERS)
def test_raising_and_hanging_hooks_under_a_server(server_factory, kind):
    entries = [
        {"hook": f"{H}.p100", "priority": 100, "name": "p100"},
        {"hook": f"{H}.boom", "priority": 90, "name": "boom"},
        {"hook": f"{H}.sleepy", "priority": 80, "name": "sleepy", "timeout": 1},
        {"hook": f"{H}.async_sleepy", "priority": 70, "name": "async-sleepy", "timeout": 0.5},
        {"hook": f"{H}.p50", "priority": 50, "name": "p50"},
        f"{H}.ZeroFirst",
    ]
    server = server_factory(
        kind, env={"TEST_GRACEFUL_HOOKS": json.dumps(entries), "GRACEFUL_TIMEOUT": "4"}
    )
    server.send(signal.SIGTERM)
    code = server.wait_exit(10)
    # Within the 4 s deadline: the hung sync hook's thread is still sleeping (a daemon, it
    # does not hold the exit) and the async one swallows its cancellation (abandoned).
    assert code == 0, server.output
    assert "GRACEFUL_TIMEOUT of 4s reached" not in server.output  # (W020 is logged at arm)
    assert hook_tokens() == ["p100", "p50", "zero-first"]
    assert "boom: raised RuntimeError: boom from a hook" in server.output
    assert "sleepy: timed out after 1s" in server.output
    assert "async-sleepy: timed out after 0.5s" in server.output
    assert "Traceback" in server.output


def test_sigterm_deregisters_and_saves_state_from_a_server(server_factory, registry):
    server = server_factory(
        "uvicorn",
        env={
            "TEST_DEREGISTER_URL": f"{registry}/deregister",
            "TEST_SAVE_STATE": f"{H}.async_save_state",
        },
    )
    pid = server.process.pid
    server.send(signal.SIGTERM)
    assert server.wait_exit(10) == 0, server.output
    assert _Recorder.received == [
        {
            "path": "/deregister",
            "body": {"event": "shutdown", "host": os.uname().nodename, "pid": pid},
        }
    ]
    assert Write.objects.filter(kind="state", token="saved-async").count() == 1
    lines = server.output.splitlines()
    started = [
        line.split("hook ")[1].split(" started")[0] for line in lines if " started (" in line
    ]
    assert started == [
        "graceful_django.builtin_hooks.deregister",
        "graceful_django.builtin_hooks.save_state",
        "graceful_django.builtin_hooks.close_caches",
    ]


# Hooks by phase (issue 12) ---------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_hook_runs_in_the_phase_its_entry_or_decorator_names():
    @hooks.shutdown_hook(phase=hooks.BEFORE_DRAIN, name="decorated-before")
    def decorated() -> None:
        Write.objects.create(kind="hook", token="decorated-before")

    entries = [
        {"hook": f"{H}.p100", "name": "p100", "phase": "before_drain"},
        {"hook": f"{H}.minus100", "name": "minus100", "phase": "after_drain"},
        f"{H}.ZeroFirst",  # no phase: after the drain, as before phases existed
    ]
    try:
        with override_settings(GRACEFUL_HOOKS=entries):
            assert run_all(phase=hooks.BEFORE_DRAIN) == []
            assert hook_tokens() == ["p100", "decorated-before"]
            assert run_all(phase=hooks.AFTER_DRAIN) == []
    finally:
        hooks.unregister("decorated-before")
    assert hook_tokens() == ["p100", "decorated-before", "minus100", "zero-first"]


def test_a_bad_phase_in_the_decorator_is_refused():
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured, match="phase must be one of"):
        hooks.shutdown_hook(phase="whenever")(lambda: None)


@pytest.mark.parametrize("kind", SERVERS)
def test_before_drain_hook_runs_while_the_listener_is_open(server_factory, kind):
    from tests.servers import free_port

    port = free_port()
    entries = [
        {"hook": f"{H}.ask_own_server", "phase": "before_drain", "name": "ask"},
        {"hook": f"{H}.p100", "name": "p100"},  # after the drain, on the ORM
    ]
    server = server_factory(
        kind,
        port=port,
        env={
            "TEST_GRACEFUL_HOOKS": json.dumps(entries),
            "TEST_SELF_URL": f"http://127.0.0.1:{port}",
        },
    )
    server.send(signal.SIGTERM)
    assert server.wait_exit(20) == 0, server.output
    assert hook_tokens() == ["own-server:200", "p100"], server.output
    steps = [
        line.split("shutdown step: ")[1]
        for line in server.output.splitlines()
        if "shutdown step: " in line
    ]
    assert steps.index("run before-drain hooks") < steps.index("stop accepting")
