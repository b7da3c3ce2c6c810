"""The health endpoints: `path("", include("graceful_django.urls"))`.

Mounted elsewhere than at the root, list the new paths in GRACEFUL_HEALTH_PATHS so that
they keep answering during a drain (system check graceful_django.W041 tells you).
"""

from __future__ import annotations

from django.urls import path

from .operations import health

app_name = "graceful_django"

urlpatterns = [
    path("healthz/live", health.live, name="live"),
    path("healthz/ready", health.ready, name="ready"),
]
