"""Real server processes for the tests: start daphne or uvicorn, signal them, read their logs.

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
    ) -> None:
        self.kind = kind
        self.app = app
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
        if self.kind == "daphne":
            return [
                sys.executable,
                "-m",
                "daphne",
                "-b",
                "127.0.0.1",
                "-p",
                str(self.port),
                self.app,
            ]
        if self.kind == "uvicorn":
            return [
                sys.executable,
                "-m",
                "uvicorn",
                self.app,
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "info",
            ]
        raise ValueError(f"unknown server kind {self.kind!r}")

    def start(self, timeout: float = 20.0) -> ServerProcess:
        self.launch()
        self.wait_for_log(self.ready_pattern, timeout)
        if self.kind == "uvicorn":
            # uvicorn sends lifespan startup (where we arm) before it binds its socket.
            self.wait_for_log("Uvicorn running on", timeout)
        return self

    def launch(self) -> ServerProcess:
        """Start the process without waiting for it to be ready."""
        self.process = subprocess.Popen(
            self.command(),
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
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
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
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
