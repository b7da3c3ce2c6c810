"""System checks of the operations settings (ids graceful_django.E040-E059, W040-W059).

E040  GRACEFUL_PRE_DRAIN_DELAY is not a number of seconds >= 0
E041  the pre-drain delay is not shorter than GRACEFUL_TIMEOUT: nothing left to drain in
W040  the pre-drain delay takes more than half of GRACEFUL_TIMEOUT
E042  GRACEFUL_HEALTH_PATHS is not a list of absolute paths
W041  graceful_django.urls is mounted where GRACEFUL_HEALTH_PATHS does not look
E043  GRACEFUL_RUNTIME_DIR is not an absolute path
E044  GRACEFUL_FLEET_GROUP is not a valid channel-layer group name
E045  GRACEFUL_METRICS_PATH is not an absolute path or None
W042  django-prometheus' /metrics view is mounted where GRACEFUL_METRICS_PATH does not look
E046  GRACEFUL_DRAIN_MODE is not "serve" or "refuse"
E047  GRACEFUL_SERVE_CUTOFF is not a number of seconds >= 0
E048  the serving cutoff and the pre-drain delay leave no time to serve before the deadline
"""

from __future__ import annotations

import os
import re
from typing import Any

from django.core import checks
from django.urls import NoReverseMatch, reverse

from ..conf import DRAIN_MODES, conf
from ..core.validation import is_number

# channels' own rule for group names (channels.layers.BaseChannelLayer).
GROUP_NAME = re.compile(r"^[a-zA-Z\d\-_.]{1,99}$")


def check_pre_drain_delay(**kwargs: Any) -> list[checks.CheckMessage]:
    delay, timeout = conf.GRACEFUL_PRE_DRAIN_DELAY, conf.GRACEFUL_TIMEOUT
    if not is_number(delay) or delay < 0:
        return [
            checks.Error(
                f"GRACEFUL_PRE_DRAIN_DELAY must be a number of seconds >= 0, not {delay!r}.",
                hint="How long load balancers take to stop sending traffic once readiness "
                "fails, e.g. 5 (0 when nothing routes by readiness).",
                id="graceful_django.E040",
            )
        ]
    if not is_number(timeout) or timeout <= 0 or delay == 0:
        return []  # a bad timeout is E001's to report
    if delay >= timeout:
        return [
            checks.Error(
                f"GRACEFUL_PRE_DRAIN_DELAY ({delay:g}s) is not shorter than GRACEFUL_TIMEOUT "
                f"({timeout:g}s): the deadline passes before the drain starts.",
                hint="The delay counts inside GRACEFUL_TIMEOUT; raise the timeout (and the pod's "
                "terminationGracePeriodSeconds) or shorten the delay.",
                id="graceful_django.E041",
            )
        ]
    if delay > timeout / 2:
        return [
            checks.Warning(
                f"GRACEFUL_PRE_DRAIN_DELAY ({delay:g}s) takes more than half of GRACEFUL_TIMEOUT "
                f"({timeout:g}s), leaving {timeout - delay:g}s for in-flight work.",
                hint="Raise GRACEFUL_TIMEOUT so that the slowest request fits after the delay.",
                id="graceful_django.W040",
            )
        ]
    return []


def check_drain_mode(**kwargs: Any) -> list[checks.CheckMessage]:
    mode = conf.GRACEFUL_DRAIN_MODE
    if mode in DRAIN_MODES:
        return []
    return [
        checks.Error(
            f"GRACEFUL_DRAIN_MODE must be {' or '.join(map(repr, DRAIN_MODES))}, not {mode!r}.",
            hint='"serve" answers what still reaches a draining process, with Connection: close; '
            '"refuse" answers it 503 at once (the behaviour of graceful_django 0.1).',
            id="graceful_django.E046",
        )
    ]


def check_serve_cutoff(**kwargs: Any) -> list[checks.CheckMessage]:
    cutoff = conf.GRACEFUL_SERVE_CUTOFF
    timeout, delay = conf.GRACEFUL_TIMEOUT, conf.GRACEFUL_PRE_DRAIN_DELAY
    if not is_number(cutoff) or cutoff < 0:
        return [
            checks.Error(
                f"GRACEFUL_SERVE_CUTOFF must be a number of seconds >= 0, not {cutoff!r}.",
                hint="Seconds before the deadline from which requests that reach a draining "
                "process get a 503, e.g. the longest request's duration.",
                id="graceful_django.E047",
            )
        ]
    if not is_number(timeout) or timeout <= 0 or not is_number(delay) or not 0 <= delay < timeout:
        return []  # E001's, E040's and E041's to report
    if cutoff + delay >= timeout:
        return [
            checks.Error(
                f"GRACEFUL_SERVE_CUTOFF ({cutoff:g}s) and GRACEFUL_PRE_DRAIN_DELAY ({delay:g}s) "
                f"leave nothing of GRACEFUL_TIMEOUT ({timeout:g}s): every request that reaches "
                "a draining process after the delay would get a 503.",
                hint="Shorten the cutoff (or the delay), or raise GRACEFUL_TIMEOUT; "
                'GRACEFUL_DRAIN_MODE = "refuse" is the way to refuse at once.',
                id="graceful_django.E048",
            )
        ]
    return []


def check_health_paths(**kwargs: Any) -> list[checks.CheckMessage]:
    paths = conf.GRACEFUL_HEALTH_PATHS
    if not isinstance(paths, (list, tuple)) or not all(
        isinstance(path, str) and path.startswith("/") for path in paths
    ):
        return [
            checks.Error(
                f"GRACEFUL_HEALTH_PATHS must be a list of paths starting with '/', not {paths!r}.",
                hint="The paths of the health endpoints, e.g. ['/healthz/live', '/healthz/ready'].",
                id="graceful_django.E042",
            )
        ]
    missing = []
    for name in ("graceful_django:live", "graceful_django:ready"):
        try:
            path = reverse(name)
        except NoReverseMatch:
            continue  # not mounted: nothing to keep answering
        except Exception:  # a broken URLconf is reported by Django's own checks
            return []
        if path not in paths:
            missing.append(path)
    if missing:
        return [
            checks.Warning(
                f"The health endpoints are at {', '.join(missing)}, not in GRACEFUL_HEALTH_PATHS; "
                "they would answer 503 like any request during a drain.",
                hint=f"Set GRACEFUL_HEALTH_PATHS = {missing!r}.",
                id="graceful_django.W041",
            )
        ]
    return []


def check_metrics_path(**kwargs: Any) -> list[checks.CheckMessage]:
    value = conf.GRACEFUL_METRICS_PATH
    if value is not None and not (isinstance(value, str) and value.startswith("/")):
        return [
            checks.Error(
                f"GRACEFUL_METRICS_PATH must be a path starting with '/' or None, not {value!r}.",
                hint="The path of your metrics view, served untracked during a drain; "
                "django-prometheus puts it at '/metrics'.",
                id="graceful_django.E045",
            )
        ]
    try:
        mounted = reverse("prometheus-django-metrics")
    except Exception:  # not mounted, or a broken URLconf that Django's own checks report
        return []
    if mounted == value:
        return []
    return [
        checks.Warning(
            f"django-prometheus' metrics view is at {mounted}, not GRACEFUL_METRICS_PATH "
            f"({value!r}); it would answer 503 like any request during a drain.",
            hint=f"Set GRACEFUL_METRICS_PATH = {mounted!r}.",
            id="graceful_django.W042",
        )
    ]


def check_runtime_dir(**kwargs: Any) -> list[checks.CheckMessage]:
    value = conf.GRACEFUL_RUNTIME_DIR
    if value is None or (isinstance(value, (str, os.PathLike)) and os.path.isabs(value)):
        return []
    return [
        checks.Error(
            f"GRACEFUL_RUNTIME_DIR must be an absolute path or None, not {value!r}.",
            hint="A directory only this user can read, e.g. '/run/user/1000/graceful_django'; "
            "None picks $XDG_RUNTIME_DIR/graceful_django or /tmp/graceful_django-<uid>.",
            id="graceful_django.E043",
        )
    ]


def check_fleet_group(**kwargs: Any) -> list[checks.CheckMessage]:
    value = conf.GRACEFUL_FLEET_GROUP
    if value is None or (isinstance(value, str) and GROUP_NAME.match(value)):
        return []
    return [
        checks.Error(
            f"GRACEFUL_FLEET_GROUP must be a channel-layer group name, not {value!r}.",
            hint="ASCII letters, digits, '-', '_' and '.', fewer than 100 characters; "
            "or None to derive it from SECRET_KEY and the settings module.",
            id="graceful_django.E044",
        )
    ]


ALL_CHECKS = (
    check_pre_drain_delay,
    check_drain_mode,
    check_serve_cutoff,
    check_health_paths,
    check_metrics_path,
    check_runtime_dir,
    check_fleet_group,
)
