"""Time from the last in-flight response to the process exit, after SIGTERM.

    python -m benchmarks.exit_latency [--runs 5] [--requests 10]

Measured for daphne and uvicorn serving the demo with graceful_django, and for plain
daphne (no graceful_django) as the baseline of the same run: there the responses are
lost, which the "answered" column shows. Goal with graceful_django: <= 50 ms (no polling).
"""

from __future__ import annotations

import argparse
import signal
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from .process import free_port, start_server

SETUPS = {
    "daphne + graceful_django": ("project.asgi:application", "project.settings", "daphne"),
    "uvicorn + graceful_django": ("project.asgi:application", "project.settings", "uvicorn"),
    "plain daphne (baseline)": (
        "benchmarks.asgi_plain:application",
        "benchmarks.settings_plain",
        "daphne",
    ),
}


def one_run(
    app: str, settings: str, server: str, requests: int, errors: dict[str, int]
) -> tuple[float, int]:
    port = free_port()
    process = start_server(app, settings, port, server, env={"GRACEFUL_TIMEOUT": "10"})
    url = f"http://127.0.0.1:{port}/slow/async?seconds=0.6"
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

    with ThreadPoolExecutor(requests) as pool:
        for _ in range(requests):
            pool.submit(fetch)
        time.sleep(0.3)  # let every request reach its view
        process.send_signal(signal.SIGTERM)
        process.wait(15)
        exited_at = time.monotonic()
    if not answered_at:
        return float("nan"), 0
    return exited_at - max(answered_at), len(answered_at)


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--requests", type=int, default=10)
    args = parser.parse_args(argv)
    results = {}
    for name, (app, settings, server) in SETUPS.items():
        latencies, answered = [], []
        errors: dict[str, int] = {}
        for _ in range(args.runs):
            latency, count = one_run(app, settings, server, args.requests, errors)
            latencies.append(latency)
            answered.append(count)
        valid = [latency for latency in latencies if latency == latency]
        median = statistics.median(valid) * 1000 if valid else float("nan")
        results[name] = median
        print(
            f"{name}: answered {sum(answered)}/{args.runs * args.requests}, "
            f"exit {median:.0f} ms after the last response (median of {len(valid)} runs)"
            + (f"; errors: {errors}" if errors else "")
        )
    return results


if __name__ == "__main__":
    main()
