"""The hooks graceful_django brings, each switched on by the setting it needs.

Each is named by its dotted path; listing that path in GRACEFUL_HOOKS (e.g. as a dict with
another priority or timeout) replaces the automatic one.

    graceful_django.builtin_hooks.deregister      priority 1000  when GRACEFUL_DEREGISTER_URLS,
                                                  before the drain
    graceful_django.builtin_hooks.save_state      priority 500   when GRACEFUL_SAVE_STATE
    graceful_django.builtin_hooks.close_caches    priority -1000 always
    graceful_django.builtin_hooks.mark_prometheus_process_dead
                                                  priority -1000 when PROMETHEUS_MULTIPROC_DIR
"""

from __future__ import annotations

import json
import logging
import os
import socket
import urllib.request
from typing import Any

from ..conf import conf
from ..metrics import PROMETHEUS
from ..state import get_state
from .loading import AFTER_DRAIN, BEFORE_DRAIN, Hook, hook_from_object, import_path

logger = logging.getLogger("graceful_django")

BUILTIN_ORDER = 20_000  # after the hooks of GRACEFUL_HOOKS and of @shutdown_hook on ties
# Before the drain, and first: stop being sent traffic while the server still serves it.
DEREGISTER_PRIORITY = 1000
SAVE_STATE_PRIORITY = 500
CLOSE_CACHES_PRIORITY = -1000  # last: other hooks may still use the cache and metrics
PROMETHEUS_PRIORITY = -1000


def deregister() -> None:
    """POST `{"event": "shutdown", "host", "pid"}` to each GRACEFUL_DEREGISTER_URLS entry."""
    timeout = float(conf.GRACEFUL_DEREGISTER_TIMEOUT)
    body = json.dumps({"event": "shutdown", "host": socket.gethostname(), "pid": os.getpid()})
    failed = []
    # One after the other, each bounded by its own timeout; a failure does not stop the rest.
    for url in conf.GRACEFUL_DEREGISTER_URLS:
        request = urllib.request.Request(
            url,
            data=body.encode(),
            method="POST",
            headers={"Content-Type": "application/json", "User-Agent": "graceful-django"},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                logger.info("deregistered at %s (HTTP %s)", url, response.status)
        except Exception as error:  # urllib raises HTTPError, URLError, TimeoutError, OSError
            logger.warning("deregistration at %s failed: %s", url, error)
            failed.append(f"{url} ({error})")
    if failed:
        raise RuntimeError(f"deregistration failed at {', '.join(failed)}")


def save_state() -> Any:
    """Call the GRACEFUL_SAVE_STATE function; an async one is awaited on the server's loop."""
    return import_path(str(conf.GRACEFUL_SAVE_STATE))()


def close_caches() -> None:
    """Close the connections of every cache this process used (Redis, Memcached, ...)."""
    get_state().caches.close_all()


def prometheus_multiproc_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or os.environ.get("prometheus_multiproc_dir")


def prometheus_in_multiprocess_mode() -> bool:
    return PROMETHEUS and bool(prometheus_multiproc_dir())


def mark_prometheus_process_dead() -> None:
    """Drop this process's live gauges from the multiprocess directory (gunicorn's child_exit)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(os.getpid(), prometheus_multiproc_dir())  # type: ignore[no-untyped-call]


# The dotted path users write in GRACEFUL_HOOKS and see as metric labels (a re-export).
PUBLIC_MODULE = "graceful_django.builtin_hooks"


def _builtin(func: Any, priority: int, phase: str, index: int) -> Hook:
    name = f"{PUBLIC_MODULE}.{func.__qualname__}"
    return hook_from_object(func, name, priority=priority, phase=phase, order=BUILTIN_ORDER + index)


def enabled_hooks() -> list[Hook]:
    """The built-in hooks that have something to do with the current settings."""
    wanted = [
        (deregister, DEREGISTER_PRIORITY, BEFORE_DRAIN, bool(conf.GRACEFUL_DEREGISTER_URLS)),
        (save_state, SAVE_STATE_PRIORITY, AFTER_DRAIN, bool(conf.GRACEFUL_SAVE_STATE)),
        (close_caches, CLOSE_CACHES_PRIORITY, AFTER_DRAIN, True),
        (
            mark_prometheus_process_dead,
            PROMETHEUS_PRIORITY,
            AFTER_DRAIN,
            prometheus_in_multiprocess_mode(),
        ),
    ]
    return [
        _builtin(func, priority, phase, index)
        for index, (func, priority, phase, on) in enumerate(wanted)
        if on
    ]
