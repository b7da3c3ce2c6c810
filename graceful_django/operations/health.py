"""Liveness and readiness endpoints for load balancers and Kubernetes probes.

    path("", include("graceful_django.urls"))   # /healthz/live and /healthz/ready

Both answer from the process's coordinator alone: no database, no cache, nothing that a
drain or a slow dependency could hold up. Throughout a drain they are served untracked,
as is the metrics view (the ASGI wrapper and the middleware let `GRACEFUL_HEALTH_PATHS`
and `GRACEFUL_METRICS_PATH` through): a probe sees the drain instead of a refusal that
looks like a dead process, an operator can watch it, and neither holds it up.

`is_draining()` is the same answer for other health-check apps (`graceful_django.is_draining`).
"""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse

from ..conf import conf
from ..core.coordinator import Coordinator
from ..state import get_state


def served_during_drain(path: str) -> bool:
    """A health or metrics path; asked only once readiness fails, so never on the hot path."""
    return path in conf.GRACEFUL_HEALTH_PATHS or path == conf.GRACEFUL_METRICS_PATH


def is_draining() -> bool:
    """True from the first moment of a drain or a shutdown: this process should get no
    new traffic (what /healthz/ready answers 503 for)."""
    return not get_state().coordinator.ready


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
