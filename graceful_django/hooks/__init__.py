"""Shutdown hooks: from GRACEFUL_HOOKS, from `@shutdown_hook`, and the built-in ones.

    from graceful_django.hooks import shutdown_hook

    @shutdown_hook(priority=50, timeout=3)
    def flush_buffers() -> None: ...

    @shutdown_hook(phase="before_drain")   # as the shutdown starts, before the drain
    def tell_peers() -> None: ...

`loading` reads an entry, `runner` runs hooks on the deadline (neither knows Django),
`builtin` holds the hooks graceful_django brings, `checks` their system checks, and
`api` the Django layer that puts them together.
"""

from __future__ import annotations

from .api import (
    closing_connections,
    configured_hooks,
    registered_hooks,
    run_all,
    shutdown_hook,
    unregister,
)
from .loading import AFTER_DRAIN, BEFORE_DRAIN, PHASES, Hook, HookError

__all__ = [
    "AFTER_DRAIN",
    "BEFORE_DRAIN",
    "PHASES",
    "Hook",
    "HookError",
    "closing_connections",
    "configured_hooks",
    "registered_hooks",
    "run_all",
    "shutdown_hook",
    "unregister",
]
