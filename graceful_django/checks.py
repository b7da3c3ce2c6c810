"""System checks: misconfiguration is caught by `manage.py check`, never during a shutdown.

Ids are stable: E001-E009 core, E010-E019 websockets, E020-E039 hooks, E040-E049 operations.
Every check is registered under the tag `graceful_django`: `manage.py check --tag
graceful_django` runs them alone, as each server process does when it arms.
"""

from __future__ import annotations

import difflib
from typing import Any
from urllib.parse import urlparse

from django.conf import settings
from django.core import checks

from .conf import DEFAULTS, conf
from .core.validation import is_number, is_whole_number

MIDDLEWARE_PATH = "graceful_django.middleware.GracefulShutdownMiddleware"
TAG = "graceful_django"
PREFIX = "GRACEFUL_"


def check_timeout(**kwargs: Any) -> list[checks.CheckMessage]:
    timeout = conf.GRACEFUL_TIMEOUT
    if not is_number(timeout) or timeout <= 0:
        return [
            checks.Error(
                f"GRACEFUL_TIMEOUT must be a positive number of seconds, not {timeout!r}.",
                hint="Use the pod's terminationGracePeriodSeconds less a few seconds, e.g. 25.",
                id="graceful_django.E001",
            )
        ]
    return []


def check_retry_after(**kwargs: Any) -> list[checks.CheckMessage]:
    value = conf.GRACEFUL_RETRY_AFTER
    if not is_whole_number(value) or value < 0:
        return [
            checks.Error(
                f"GRACEFUL_RETRY_AFTER must be a whole number of seconds >= 0, not {value!r}.",
                hint="It is sent as the Retry-After header of refused requests, e.g. 5.",
                id="graceful_django.E002",
            )
        ]
    return []


def check_middleware(**kwargs: Any) -> list[checks.CheckMessage]:
    middleware = list(getattr(settings, "MIDDLEWARE", []))
    if MIDDLEWARE_PATH not in middleware:
        return [
            checks.Error(
                f"{MIDDLEWARE_PATH} is not in MIDDLEWARE; in-flight requests are not tracked.",
                hint="Add it first in MIDDLEWARE, so that it sees the responses of all others.",
                id="graceful_django.E003",
            )
        ]
    if middleware.index(MIDDLEWARE_PATH) != 0:
        return [
            checks.Warning(
                f"{MIDDLEWARE_PATH} is not first in MIDDLEWARE.",
                hint="Middleware above it can answer requests that are not tracked; move it first.",
                id="graceful_django.W001",
            )
        ]
    return []


def check_prometheus(**kwargs: Any) -> list[checks.CheckMessage]:
    from .hooks.builtin import prometheus_multiproc_dir
    from .metrics import PROMETHEUS

    if PROMETHEUS or not prometheus_multiproc_dir():
        return []
    return [
        checks.Warning(
            "PROMETHEUS_MULTIPROC_DIR is set, but prometheus_client is not installed: "
            "graceful_django records no metrics.",
            hint="pip install 'graceful-django[prometheus]' (django-prometheus brings it).",
            id="graceful_django.W002",
        )
    ]


def check_pushgateway(**kwargs: Any) -> list[checks.CheckMessage]:
    from .metrics import PROMETHEUS

    gateway, timeout = conf.GRACEFUL_PUSHGATEWAY, conf.GRACEFUL_PUSHGATEWAY_TIMEOUT
    messages: list[checks.CheckMessage] = []
    if gateway is not None and not (_is_gateway(gateway) and PROMETHEUS):
        problem = (
            "prometheus_client is not installed"
            if _is_gateway(gateway)
            else f"{gateway!r} is not an http(s) URL or host:port"
        )
        messages.append(
            checks.Error(
                f"GRACEFUL_PUSHGATEWAY: {problem}; the shutdown's metrics are not pushed.",
                hint="The Pushgateway's address, e.g. 'http://pushgateway:9091' (None: no push; "
                "pip install 'graceful-django[prometheus]' for prometheus_client).",
                id="graceful_django.E004",
            )
        )
    if not is_number(timeout) or timeout <= 0:
        messages.append(
            checks.Error(
                f"GRACEFUL_PUSHGATEWAY_TIMEOUT must be a positive number of seconds, "
                f"not {timeout!r}.",
                hint="How long the push at the end of the shutdown may take, e.g. 2.",
                id="graceful_django.E005",
            )
        )
    return messages


def _is_gateway(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    # prometheus_client takes a URL, or host:port and adds http:// itself.
    parsed = urlparse(value if "://" in value else f"http://{value}")
    return parsed.scheme in ("http", "https") and bool(parsed.hostname)


def check_unknown_settings(**kwargs: Any) -> list[checks.CheckMessage]:
    messages: list[checks.CheckMessage] = []
    for name in sorted(dir(settings)):
        if not name.startswith(PREFIX) or name in DEFAULTS:
            continue
        closest = difflib.get_close_matches(name, DEFAULTS, n=1)
        messages.append(
            checks.Warning(
                f"{name} is not a graceful_django setting; it is ignored.",
                hint=f"Did you mean {closest[0]}?"
                if closest
                else "The settings are listed in graceful_django's README.",
                id="graceful_django.W003",
            )
        )
    return messages


def register() -> None:
    from .hooks.checks import ALL_CHECKS as HOOK_CHECKS
    from .operations.checks import ALL_CHECKS as OPERATIONS_CHECKS
    from .websockets.checks import ALL_CHECKS as WEBSOCKET_CHECKS

    core = (
        check_timeout,
        check_retry_after,
        check_middleware,
        check_prometheus,
        check_pushgateway,
        check_unknown_settings,
    )
    for check in (*core, *HOOK_CHECKS, *WEBSOCKET_CHECKS, *OPERATIONS_CHECKS):
        checks.register(check, TAG)
