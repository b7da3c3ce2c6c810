"""Liveness and readiness endpoints for load balancers and Kubernetes probes.

    path("", include("graceful_django.urls"))   # /healthz/live and /healthz/ready

Both answer from the process's coordinator alone: no database, no cache, nothing that a
drain or a slow dependency could hold up. They keep answering while new work is refused
(the ASGI wrapper and the middleware let `GRACEFUL_HEALTH_PATHS` through), so a probe sees
the drain instead of a refusal that looks like a dead process.
"""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse

from ..conf import conf
from ..core.coordinator import Coordinator
from ..state import get_state


def is_health_path(path: str) -> bool:
    """Asked only while work is refused, so the setting costs nothing on the hot path."""
    return path in conf.GRACEFUL_HEALTH_PATHS


def _answer(ok: bool, coordinator: Coordinator) -> JsonResponse:
    response = JsonResponse(
        {
            "status": "ok" if ok else "unavailable",
            "phase": coordinator.phase.value,
            **coordinator.counts(),
        },
        status=200 if ok else 503,
    )
    response["Cache-Control"] = "no-store"
    if not ok:
        # An expected 503, asked every few seconds by each probe: not an error for
        # django.request to log (Django skips responses marked as logged).
        response._has_been_logged = True  # type: ignore[attr-defined]
    return response


async def live(request: HttpRequest) -> JsonResponse:
    """200 while the process is up, draining included; 503 once it is stopping."""
    coordinator = get_state().coordinator
    return _answer(coordinator.live, coordinator)


async def ready(request: HttpRequest) -> JsonResponse:
    """200 while serving; 503 from the first moment of a drain or a shutdown."""
    coordinator = get_state().coordinator
    return _answer(coordinator.ready, coordinator)
