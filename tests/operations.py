"""Helpers of the drain tests: real `manage.py drain` runs, real HTTP, a private runtime dir."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.servers import ROOT


def status_code(url: str, timeout: float = 5.0) -> int | str:
    try:
        return httpx.get(url, timeout=timeout).status_code
    except httpx.HTTPError as error:
        return type(error).__name__


def served_and_closed(url: str, timeout: float = 5.0) -> bool:
    """Answered 200 with `Connection: close`: how a drained process serves a late request."""
    response = httpx.get(url, timeout=timeout)
    return response.status_code == 200 and response.headers.get("connection") == "close"


def run_drain(
    env: dict[str, str], *args: str, timeout: float = 60.0
) -> subprocess.CompletedProcess[str]:
    """`python manage.py drain ARGS` as its own process, as an operator would run it."""
    return subprocess.run(
        [sys.executable, "manage.py", "drain", *args],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start_slow_requests(urls: list[str]) -> tuple[list[threading.Thread], list[Any]]:
    results: list[Any] = [None] * len(urls)

    def get(index: int, url: str) -> None:
        results[index] = status_code(url, timeout=30)

    threads = [threading.Thread(target=get, args=(i, url)) for i, url in enumerate(urls)]
    for thread in threads:
        thread.start()
    return threads, results


def control_request(env: dict[str, str], pid: int, *lines: bytes) -> list[dict[str, Any]]:
    """Send raw lines to a server's control socket; one reply per line."""
    path = Path(env["GRACEFUL_RUNTIME_DIR"]) / f"{pid}.sock"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(10)
        sock.connect(str(path))
        stream = sock.makefile("rwb")
        replies = []
        for line in lines:
            stream.write(line)
            stream.flush()
            replies.append(json.loads(stream.readline()))
        return replies


def wait_status(
    env: dict[str, str],
    pid: int,
    predicate: Callable[[dict[str, Any]], bool],
    timeout: float = 10.0,
) -> dict[str, Any]:
    """Subscribe to a server's pushed status until `predicate` holds (event-driven)."""
    path = Path(env["GRACEFUL_RUNTIME_DIR"]) / f"{pid}.sock"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(timeout)
        sock.connect(str(path))
        stream = sock.makefile("rwb")
        stream.write(b'{"op": "subscribe"}\n')
        stream.flush()
        while True:
            line = stream.readline()
            if not line:
                raise AssertionError(f"pid {pid} closed its control socket")
            status: dict[str, Any] = json.loads(line)["status"]
            if predicate(status):
                return status
