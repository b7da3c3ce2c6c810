"""Time from the last in-flight response to the process exit, after SIGTERM.

    python -m benchmarks.exit_latency [--runs 5] [--requests 10] [--servers daphne,hypercorn]

Measured for each server serving the demo with graceful_django, and for the same server
serving a plain app (no graceful_django) as the baseline of the same run: there some
responses may be lost, which the "answered" column shows. Servers are started by the
tests' helper (tests/servers.py kinds); a server whose package is missing is skipped.
Goal with graceful_django: <= 50 ms (no polling).
"""

from __future__ import annotations

import argparse
import importlib.util
import signal
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.servers import ServerProcess

GRACEFUL = ("project.asgi:application", "project.settings")
PLAIN = ("benchmarks.asgi_plain:application", "benchmarks.settings_plain")
PACKAGE_OF = {"gunicorn": "gunicorn", "hypercorn": "hypercorn", "granian": "granian"}
SERVERS = ["daphne", "uvicorn", "gunicorn", "hypercorn", "granian"]


def one_run(kind: str, graceful: bool, requests: int, errors: dict[str, int]) -> tuple[float, int]:
    app, settings = GRACEFUL if graceful else PLAIN
    env = {"DJANGO_SETTINGS_MODULE": settings, "GRACEFUL_TIMEOUT": "10"}
    server = ServerProcess(kind, app=app, env=env, graceful=graceful).start()
    url = f"{server.base_url}/slow/async?seconds=0.6"
    answered_at: list[float] = []
    lock = threading.Lock()

    def fetch() -> None:
        try:
            httpx.get(url, timeout=10).raise_for_status()
            with lock:
                answered_at.append(time.monotonic())
        except httpx.HTTPError as error:
            with lock:
                errors[type(error).__name__] = errors.get(type(error).__name__, 0) + 1

    try:
        with ThreadPoolExecutor(requests) as pool:
            for _ in range(requests):
                pool.submit(fetch)
            server.wait_for_count("wrote async ", requests, 20)  # every request in its view
            server.send(signal.SIGTERM)
            server.wait_exit(15)
    finally:
        server.kill()
    assert server.exited_at is not None
    if not answered_at:
        return float("nan"), 0
    return server.exited_at - max(answered_at), len(answered_at)


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--requests", type=int, default=10)
    parser.add_argument("--servers", default=",".join(SERVERS))
    args = parser.parse_args(argv)
    results = {}
    for kind in args.servers.split(","):
        package = PACKAGE_OF.get(kind)
        if package is not None and importlib.util.find_spec(package) is None:
            print(f"{kind}: skipped, {package} is not installed")
            continue
        for graceful in (True, False):
            name = f"{kind} + graceful_django" if graceful else f"plain {kind} (baseline)"
            latencies, answered = [], []
            errors: dict[str, int] = {}
            for _ in range(args.runs):
                latency, count = one_run(kind, graceful, args.requests, errors)
                latencies.append(latency)
                answered.append(count)
            valid = [latency for latency in latencies if latency == latency]
            median = statistics.median(valid) * 1000 if valid else float("nan")
            results[name] = median
            print(
                f"{name}: answered {sum(answered)}/{args.runs * args.requests}, "
                f"exit {median:.0f} ms after the last response (median of {len(valid)} runs)"
                + (f"; errors: {errors}" if errors else ""),
                flush=True,
            )
    return results


if __name__ == "__main__":
    main()
