"""Real server processes for the tests: start a server (`ServerProcess.command()` lists the
kinds), signal it, read its logs.

Waiting is event-driven: a reader thread feeds every output line to a condition that the
test waits on, so a test wakes when the line it needs appears.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ARMED = "graceful shutdown armed"
IMPORTED = "application imported"
# What a server prints once it is ready, where that is not ARMED (once per worker).
READY = {
    "runworker": "runworker: signal handlers installed",
    "gunicorn": "Application startup complete",
    "python-import": IMPORTED,
}
# The same without graceful_django (a plain app, for baselines): the server's own line.
PLAIN_READY = {
    "daphne": "Listening on TCP address",
    "uvicorn": "Application startup complete",
    "uvicorn-workers": "Application startup complete",
    "gunicorn": "Application startup complete",
    "hypercorn": "Running on http://",
    "hypercorn-workers": "Running on http://",
    "granian": "Started worker",
    "granian-workers": "Started worker",
}
LISTENING = {
    "uvicorn": "Uvicorn running on",
    "uvicorn-workers": "Uvicorn running on",
    "hypercorn": "Running on http://",
    "hypercorn-workers": "Running on http://",
    "granian": "Started worker",
    "granian-workers": "Started worker",
    "runserver": "Quit the server with",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    # The output line that says the process is ready.
    ready_pattern = ARMED

    def __init__(
        self,
        kind: str = "daphne",
        app: str = "project.asgi:application",
        env: dict[str, str] | None = None,
        port: int | None = None,
        graceful: bool = True,
        listen_socket: socket.socket | None = None,
    ) -> None:
        self.kind = kind
        self.app = app
        self.graceful = graceful  # False: the app has no graceful_django, nothing arms
        # Held by the test, as systemd holds a .socket unit's: handed to the server as fd 3
        # with LISTEN_FDS=1 and LISTEN_PID (socket activation).
        self.listen_socket = listen_socket
        if listen_socket is not None:
            port = listen_socket.getsockname()[1]
        self.port = port or free_port()
        self.env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", **(env or {})}
        self.lines: list[str] = []
        self._condition = threading.Condition()
        self.process: subprocess.Popen[str] | None = None
        self.exited_at: float | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        host, port = "127.0.0.1", str(self.port)
        manage = [sys.executable, str(ROOT / "manage.py")]
        if self.kind == "runserver":  # daphne's, or Django's without daphne in INSTALLED_APPS
            return [*manage, "runserver", "--noreload", f"{host}:{port}"]
        if self.kind == "runworker":
            return [*manage, "runworker", "test-channel"]
        if self.kind == "python-import":  # imports the app, serves nothing
            module = self.app.partition(":")[0]
            wait_forever = "threading.Event().wait()"
            script = f"import {module}, threading; print({IMPORTED!r}, flush=True); {wait_forever}"
            return [sys.executable, "-c", script]
        modules = {
            "daphne": ["daphne", "-b", host, "-p", port, self.app],
            "uvicorn": ["uvicorn", self.app, "--host", host, "--port", port, "--log-level", "info"],
            "uvicorn-workers": [
                "uvicorn", self.app, "--host", host, "--port", port, "--workers", "2",
            ],
            "hypercorn": ["hypercorn", "-b", f"{host}:{port}", self.app],
            "hypercorn-workers": ["hypercorn", "-b", f"{host}:{port}", "-w", "2", self.app],
            "granian": ["granian", "--interface", "asgi", "--host", host, "--port", port, self.app],
            "granian-workers": [
                "granian", "--interface", "asgi", "--host", host, "--port", port,
                "--workers", "2", self.app,
            ],
            "gunicorn": [
                "gunicorn", "-k", "uvicorn.workers.UvicornWorker", "-w", "2",
                "-b", f"{host}:{port}", "--graceful-timeout", "40", self.app,
            ],
        }  # fmt: skip
        if self.listen_socket is not None:
            # As the socket-activated units in deploy/systemd run them.
            modules = {
                "daphne": ["daphne", "--fd", "3", self.app],
                "uvicorn": ["uvicorn", self.app, "--fd", "3", "--log-level", "info"],
                # gunicorn reads LISTEN_FDS itself.
                "gunicorn": [
                    "gunicorn",
                    "-k",
                    "uvicorn.workers.UvicornWorker",
                    "-w",
                    "2",
                    self.app,
                ],
            }
        if self.kind not in modules:
            raise ValueError(f"unknown server kind {self.kind!r}")
        return [sys.executable, "-m", *modules[self.kind]]

    def _activated(self, command: list[str]) -> tuple[list[str], tuple[int, ...]]:
        """`command` given the listening socket as fd 3, the way systemd hands it over."""
        if self.listen_socket is None:
            return command, ()
        fd = self.listen_socket.fileno()
        # LISTEN_PID must be the server's own pid: this one's, which exec keeps.
        script = (
            f"import os, sys; os.dup2({fd}, 3); os.close({fd}); "
            "os.environ.update(LISTEN_FDS='1', LISTEN_PID=str(os.getpid())); "
            "os.execv(sys.argv[1], sys.argv[1:])"
        )
        return [sys.executable, "-c", script, *command], (fd,)

    @property
    def workers(self) -> int:
        """Processes that serve, each of which logs ARMED."""
        return 2 if self.kind in ("gunicorn", "uvicorn-workers") or "-workers" in self.kind else 1

    def start(self, timeout: float = 20.0) -> ServerProcess:
        self.launch()
        ready = READY.get(self.kind, self.ready_pattern)
        if not self.graceful:
            ready = PLAIN_READY[self.kind]
        self.wait_for_count(ready, self.workers, timeout)
        if self.kind in LISTENING:
            # These send lifespan startup (where we arm) before they bind their socket.
            self.wait_for_log(LISTENING[self.kind], timeout)
        if self.kind in ("granian", "granian-workers", "uvicorn-workers"):
            self._wait_accepting(timeout)
        return self

    def _wait_accepting(self, timeout: float) -> None:
        """Nothing to wait on in the log: granian's Rust worker listens after its last line,
        and uvicorn's master prints "running on" once bound, before a worker listens (a
        connection until then is refused)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline or self.exited_at is not None:
                    raise AssertionError(f"not accepting in {timeout}s:\n{self.output}") from None
                time.sleep(0.02)

    def launch(self) -> ServerProcess:
        """Start the process without waiting for it to be ready."""
        command, fds = self._activated(self.command())
        self.process = subprocess.Popen(
            command,
            pass_fds=fds,
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            # Its own process group, so that kill() also ends the workers of a master
            # (gunicorn's, granian's), which a SIGKILL to the master alone leaves running.
            start_new_session=True,
        )
        threading.Thread(target=self._read, daemon=True).start()
        return self

    def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            with self._condition:
                self.lines.append(line.rstrip("\n"))
                self._condition.notify_all()
        self.process.wait()
        with self._condition:
            self.exited_at = time.monotonic()
            self._condition.notify_all()

    @property
    def output(self) -> str:
        with self._condition:
            return "\n".join(self.lines)

    def wait_for_log(self, pattern: str, timeout: float = 10.0) -> str:
        """The first output line matching `pattern` (a regex); fails on timeout or exit."""
        regex = re.compile(pattern)

        def found() -> str | None:
            return next((line for line in self.lines if regex.search(line)), None)

        with self._condition:
            ok = self._condition.wait_for(
                lambda: found() is not None or self.exited_at is not None, timeout
            )
            line = found()
        if line is None:
            state = "exited" if self.exited_at is not None else f"no match in {timeout}s"
            raise AssertionError(f"{pattern!r} not seen ({state}); output:\n{self.output}")
        assert ok
        return line

    def wait_for_count(self, pattern: str, count: int, timeout: float = 10.0) -> None:
        """Wait until `count` output lines match `pattern`."""
        regex = re.compile(pattern)

        def seen() -> int:
            return sum(1 for line in self.lines if regex.search(line))

        with self._condition:
            self._condition.wait_for(lambda: seen() >= count or self.exited_at is not None, timeout)
            found = seen()
        if found < count:
            raise AssertionError(f"{found} of {count} lines matching {pattern!r}:\n{self.output}")

    def send(self, signum: int = signal.SIGTERM) -> float:
        assert self.process is not None
        self.process.send_signal(signum)
        return time.monotonic()

    def wait_exit(self, timeout: float = 30.0) -> int:
        assert self.process is not None
        with self._condition:
            self._condition.wait_for(lambda: self.exited_at is not None, timeout)
        if self.exited_at is None:
            raise AssertionError(f"server did not exit in {timeout}s; output:\n{self.output}")
        code = self.process.returncode
        assert code is not None
        return code

    def kill(self) -> None:
        """The process and whatever it started (workers), at once."""
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass  # exited, and so did its group
        self.process.wait(10)


PUSHGATEWAY = shutil.which("prometheus-pushgateway")


class Pushgateway(ServerProcess):
    """A real Prometheus Pushgateway (Debian's prometheus-pushgateway) on a free port."""

    ready_pattern = 'msg="Listening on"'

    def __init__(self) -> None:
        super().__init__(kind="pushgateway")

    def command(self) -> list[str]:
        assert PUSHGATEWAY is not None
        # In memory only: nothing of a test run is kept.
        return [PUSHGATEWAY, f"--web.listen-address=127.0.0.1:{self.port}"]


@contextmanager
def running_server(**kwargs: object) -> Iterator[ServerProcess]:
    server = ServerProcess(**kwargs)  # type: ignore[arg-type]
    try:
        yield server.start()
    finally:
        server.kill()
