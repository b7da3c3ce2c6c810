"""CPU cost that graceful_django adds to one request, measured in-process (no sockets).

    python -m benchmarks.per_request_cost

The server benchmarks of this folder compare whole servers, whose throughput on a shared
2-core machine moves by 20% between rounds; this one isolates what the ASGI wrapper and the
middleware add per request (CPU microseconds), which is steady from run to run. Divided by
the CPU a trivial request costs the server (middleware_overhead's req/cpu-s), it gives the
overhead ratio.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

ITERATIONS = 50_000


async def _per_call(call: Any, make_args: Any, iterations: int) -> float:
    started = time.process_time()
    for _ in range(iterations):
        await call(*make_args())
    return (time.process_time() - started) / iterations * 1e6


async def measure(iterations: int = ITERATIONS) -> dict[str, float]:
    from django.http import HttpResponse
    from django.test import AsyncRequestFactory

    from graceful_django.asgi import GracefulShutdown
    from graceful_django.middleware import GracefulShutdownMiddleware
    from graceful_django.state import get_state

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        pass

    wrapper = GracefulShutdown(app)
    get_state().lifecycle.loop = asyncio.get_running_loop()  # armed, as under a server
    get_state().start_metrics()  # as a server does when it arms

    def scope() -> tuple[dict[str, Any], None, None]:
        return {"type": "http", "method": "GET", "path": "/ping"}, None, None

    async def view(request: Any) -> HttpResponse:
        return HttpResponse("pong")

    middleware = GracefulShutdownMiddleware(view)
    request = AsyncRequestFactory().get("/ping")

    async def through(handler: Any) -> None:
        response = await handler(request)
        response.close()  # the middleware's ticket closes with the response

    wrapper_cost = await _per_call(wrapper, scope, iterations) - await _per_call(
        app, scope, iterations
    )
    middleware_cost = await _per_call(through, lambda: (middleware,), iterations) - (
        await _per_call(through, lambda: (view,), iterations)
    )
    return {"wrapper_us": wrapper_cost, "middleware_us": middleware_cost}


def main(argv: list[str] | None = None) -> dict[str, float]:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    import django

    django.setup()
    result = asyncio.run(measure())
    print(
        f"per request: ASGI wrapper {result['wrapper_us']:.1f} us, middleware (tracking "
        f"itself, as without the wrapper) {result['middleware_us']:.1f} us of CPU"
    )
    return result


if __name__ == "__main__":
    main()
