"""Shutdown hooks: from GRACEFUL_HOOKS, from `@shutdown_hook`, and the built-in ones.

The Django layer over `loading` (what an entry means) and `runner` (running them on the
deadline). The steps call `run_all` twice: for the `before_drain` hooks first of all, while
the server still serves, and for the `after_drain` ones after the background tasks stopped
and before the database connections close, so hooks can still use the ORM.

    from graceful_django.hooks import shutdown_hook

    @shutdown_hook(priority=50, timeout=3)
    def flush_buffers() -> None: ...

    @shutdown_hook(phase="before_drain")
    def tell_peers() -> None: ...
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar, overload

from django.core.exceptions import ImproperlyConfigured
from django.db import connections

from ..conf import conf
from ..core.deadline import Deadline
from ..core.sequence import Progress
from . import builtin as builtin_hooks
from .loading import AFTER_DRAIN, BEFORE_DRAIN, Hook, HookError, hook_from_object, load_hooks
from .runner import run_hooks

logger = logging.getLogger("graceful_django")

REGISTERED_ORDER = 10_000  # after GRACEFUL_HOOKS entries of the same priority

F = TypeVar("F", bound=Callable[..., Any])

_registered: list[Hook] = []


@overload
def shutdown_hook(func: F, /) -> F: ...
@overload
def shutdown_hook(
    *,
    priority: int = 0,
    timeout: float | None = None,
    name: str | None = None,
    phase: str = AFTER_DRAIN,
) -> Callable[[F], F]: ...
def shutdown_hook(
    func: Any = None,
    /,
    *,
    priority: int = 0,
    timeout: float | None = None,
    name: str | None = None,
    phase: str = AFTER_DRAIN,
) -> Any:
    """Register a function (sync or async) as a shutdown hook; `@shutdown_hook` or with arguments.

    The module must be imported for the hook to exist, e.g. from your `AppConfig.ready()`.
    """

    def register(target: F) -> F:
        hook_name = name or f"{target.__module__}.{target.__qualname__}"
        try:
            hook = hook_from_object(
                target,
                hook_name,
                priority=priority,
                timeout=timeout,
                phase=phase,
                order=REGISTERED_ORDER + len(_registered),
            )
        except HookError as error:
            raise ImproperlyConfigured(f"@shutdown_hook: {error.message} {error.hint}") from None
        # A module imported twice (tests, autoreload) must not register its hook twice.
        _registered[:] = [known for known in _registered if known.name != hook.name]
        _registered.append(hook)
        return target

    return register(func) if func is not None else register


def registered_hooks() -> list[Hook]:
    """The hooks registered with `@shutdown_hook` so far."""
    return list(_registered)


def unregister(name: str) -> None:
    """Forget a `@shutdown_hook` by name (for tests)."""
    _registered[:] = [hook for hook in _registered if hook.name != name]


def configured_hooks(*, name_skipped: bool = True) -> list[Hook]:
    """Every hook that runs at shutdown, unsorted: GRACEFUL_HOOKS, decorated, built-in."""
    hooks, errors = load_hooks(conf.GRACEFUL_HOOKS)
    for error in errors if name_skipped else ():
        # The checks report these (as the server arms too); the shutdown skips them.
        logger.error("skipping shutdown hook: %s (%s)", error.message, error.id)
    hooks += registered_hooks()
    names = {hook.name for hook in hooks}
    # Listing a built-in's path in GRACEFUL_HOOKS replaces the automatic one.
    hooks += [hook for hook in builtin_hooks.enabled_hooks() if hook.name not in names]
    return hooks


def closing_connections(func: Callable[[], Any]) -> Callable[[], Any]:
    """Run a sync hook, then close the database connections its thread opened."""

    @functools.wraps(func)
    def run() -> Any:
        try:
            return func()
        finally:
            connections.close_all()

    return run


async def run_all(
    deadline: Deadline,
    progress: Progress | None = None,
    reserve: float = 0.0,
    *,
    phase: str = AFTER_DRAIN,
) -> list[str]:
    """A "hooks" step: the phase's hooks by priority; the names of those that failed."""
    return await run_hooks(
        # Loaded once per phase: a bad entry is named once, in the first phase of a shutdown.
        [
            hook
            for hook in configured_hooks(name_skipped=phase == BEFORE_DRAIN)
            if hook.phase == phase
        ],
        deadline,
        float(conf.GRACEFUL_HOOK_TIMEOUT),
        sync_wrapper=closing_connections,
        progress=progress,
        reserve=reserve,
    )
