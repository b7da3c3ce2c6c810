"""Start a server process for a benchmark and know when it listens."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


SERVER_CPU = 1
CLIENT_CPU = 0


def pin_client() -> None:
    """Client and server each on their own core, so they do not steal time from each other."""
    if len(os.sched_getaffinity(0)) > 1:
        os.sched_setaffinity(0, {CLIENT_CPU})


def _pin_server() -> None:
    if len(os.sched_getaffinity(0)) > 1:
        os.sched_setaffinity(0, {SERVER_CPU})


def _server_log() -> IO[bytes] | int:
    """Where the servers' output goes: BENCH_LOG names a file to append it to (to see what a
    server said during a benchmark), else nowhere."""
    path = os.environ.get("BENCH_LOG")
    return open(path, "ab") if path else subprocess.DEVNULL  # noqa: SIM115 - the child keeps it


def start_server(
    app: str, settings: str, port: int, server: str = "daphne", env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    if server == "daphne":
        command = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), app]
    elif server != "uvicorn":
        # Every other server as the tests start it (tests/servers.py kinds: gunicorn,
        # hypercorn, granian, uvicorn-workers, ...).
        from tests.servers import ServerProcess

        command = ServerProcess(server, app=app, port=port).command()
    else:
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            app,
            "--port",
            str(port),
            "--log-level",
            "warning",
        ]
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": settings, **(env or {})},
        stdout=open(os.environ["BENCH_LOG"], "ab")
        if os.environ.get("BENCH_LOG")
        else subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        preexec_fn=_pin_server,
        # Its own process group: servers with workers (granian, gunicorn) are stopped whole.
        start_new_session=True,
    )
    wait_listening(port)
    return process


def wait_listening(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)  # a benchmark harness, not product code: waiting for a port


def stop(process: subprocess.Popen[bytes]) -> None:
    """Kill the server and its workers (SIGKILL to the master alone would orphan them)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()
