"""Turns GRACEFUL_HOOKS entries into `Hook`s, or into the errors the system checks report.

Knows nothing of Django, so the checks and the runner share one reading of an entry:

    "app.hooks.flush"                                 a function (sync or async), a class
                                                      or an instance with `on_shutdown`
    {"hook": "app.hooks.flush", "priority": 50,       the same, with its priority, its own
     "timeout": 3, "name": "flush",                   timeout, the name the logs use and
     "phase": "after_drain"}                          when it runs (PHASES)

A class is instantiated without arguments; its (or the instance's) `name`, `priority`,
`timeout` and `phase` attributes are used unless the dict entry gives them.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ..core.validation import is_number, is_whole_number

ENTRY_KEYS = frozenset({"hook", "priority", "timeout", "name", "phase"})

# When a hook runs: as the shutdown starts, while the server still serves (deregistration,
# telling peers), or once the requests drained and the background work stopped (flushing,
# saving state; today's place, so the default).
BEFORE_DRAIN = "before_drain"
AFTER_DRAIN = "after_drain"
PHASES = (BEFORE_DRAIN, AFTER_DRAIN)

# Stable ids of what can be wrong with an entry (the checks report them as they are).
NOT_A_LIST = "graceful_django.E020"
BAD_ENTRY = "graceful_django.E021"
NO_IMPORT = "graceful_django.E022"
NOT_CALLABLE = "graceful_django.E023"
BAD_PRIORITY = "graceful_django.E024"
BAD_TIMEOUT = "graceful_django.E025"
DUPLICATE_NAME = "graceful_django.E026"
UNKNOWN_KEY = "graceful_django.E027"
MISSING_HOOK = "graceful_django.E028"
BAD_NAME = "graceful_django.E029"
BAD_PHASE = "graceful_django.E036"


@dataclass
class Hook:
    """One shutdown hook, ready to run. `order` breaks priority ties (declared order)."""

    name: str
    func: Callable[[], Any]
    priority: int = 0
    timeout: float | None = None
    order: int = 0
    phase: str = AFTER_DRAIN

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.func)


class HookError(Exception):
    """A bad entry: `id` is the system check id, `hint` tells how to fix it."""

    def __init__(self, id: str, message: str, hint: str) -> None:
        super().__init__(message)
        self.id = id
        self.message = message
        self.hint = hint


def import_path(path: str) -> Any:
    """The object at a dotted path: `myapp.hooks.flush`, or `myapp.hooks.Flush.run`."""
    parts = path.split(".")
    if len(parts) < 2 or not all(parts):
        raise ImportError(f"{path!r} is not a dotted path such as 'myapp.hooks.flush'")
    for split in range(len(parts) - 1, 0, -1):
        module_name = ".".join(parts[:split])
        try:
            target: Any = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            # Only a missing module of the path itself means "try a shorter one"; a module
            # that exists but fails to import is the user's error to see.
            if error.name is not None and f"{module_name}.".startswith(f"{error.name}."):
                continue
            raise
        for attribute in parts[split:]:
            try:
                target = getattr(target, attribute)
            except AttributeError:
                raise ImportError(f"{module_name!r} has no attribute {attribute!r}") from None
        return target
    raise ImportError(f"no module named {parts[0]!r}")


def validate_priority(priority: Any, where: str) -> int:
    if not is_whole_number(priority):
        raise HookError(
            BAD_PRIORITY,
            f"{where}: priority must be an int, not {priority!r}.",
            "Higher runs first; e.g. 100 before 0 before -100.",
        )
    return priority


def validate_timeout(timeout: Any, where: str) -> float | None:
    if timeout is None:
        return None
    if not is_number(timeout) or timeout < 0:
        raise HookError(
            BAD_TIMEOUT,
            f"{where}: timeout must be a number of seconds >= 0, not {timeout!r}.",
            "Leave it out to use GRACEFUL_HOOK_TIMEOUT.",
        )
    return float(timeout)


def validate_name(name: Any, where: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise HookError(
            BAD_NAME,
            f"{where}: name must be a non-empty string, not {name!r}.",
            "The name is what the logs and the shutdown report show.",
        )
    return name


def validate_phase(phase: Any, where: str) -> str:
    if phase not in PHASES:
        raise HookError(
            BAD_PHASE,
            f"{where}: phase must be one of {', '.join(map(repr, PHASES))}, not {phase!r}.",
            f"{BEFORE_DRAIN!r}: as the shutdown starts, before the listener closes; "
            f"{AFTER_DRAIN!r} (the default): after the drain, with the database still open.",
        )
    return str(phase)


def hook_from_object(
    target: Any,
    name: str,
    *,
    priority: Any = None,
    timeout: Any = None,
    phase: Any = None,
    order: int = 0,
) -> Hook:
    """A `Hook` from a function, a class or an instance; explicit arguments beat attributes."""
    if inspect.isclass(target):
        try:
            target = target()
        except Exception as error:
            raise HookError(
                NOT_CALLABLE,
                f"{name}: could not instantiate {target!r}: {error}",
                "A hook class must take no constructor arguments.",
            ) from error
    on_shutdown = getattr(target, "on_shutdown", None)
    if on_shutdown is not None:
        func = on_shutdown
        name = getattr(target, "name", None) or name
        priority = getattr(target, "priority", 0) if priority is None else priority
        timeout = getattr(target, "timeout", None) if timeout is None else timeout
        phase = getattr(target, "phase", None) if phase is None else phase
    else:
        func = target
    if not callable(func):
        raise HookError(
            NOT_CALLABLE,
            f"{name}: {target!r} is neither callable nor has an on_shutdown() method.",
            "Point to a function, or to a class or instance with on_shutdown().",
        )
    where = f"hook {name!r}"
    return Hook(
        name=validate_name(name, where),
        func=func,
        priority=validate_priority(0 if priority is None else priority, where),
        timeout=validate_timeout(timeout, where),
        order=order,
        phase=validate_phase(AFTER_DRAIN if phase is None else phase, where),
    )


def load_entry(entry: Any, order: int = 0) -> Hook:
    """One GRACEFUL_HOOKS entry as a `Hook`; raises `HookError` when it is wrong."""
    where = f"GRACEFUL_HOOKS[{order}]"
    if isinstance(entry, dict):
        unknown = sorted(str(key) for key in set(entry) - ENTRY_KEYS)
        if unknown:
            raise HookError(
                UNKNOWN_KEY,
                f"{where}: unknown key(s) {', '.join(unknown)}.",
                f"A hook entry may only have the keys {', '.join(sorted(ENTRY_KEYS))}.",
            )
        if "hook" not in entry:
            raise HookError(
                MISSING_HOOK,
                f"{where}: the entry has no 'hook' key.",
                'Give the dotted path of the hook: {"hook": "myapp.hooks.flush"}.',
            )
        path = entry["hook"]
        options = {key: entry[key] for key in ("priority", "timeout", "phase") if key in entry}
        if "name" in entry:
            validate_name(entry["name"], where)
    elif isinstance(entry, str):
        path, options = entry, {}
    else:
        raise HookError(
            BAD_ENTRY,
            f"{where}: {entry!r} is neither a dotted path nor a dict.",
            'Use "myapp.hooks.flush" or {"hook": "myapp.hooks.flush", "priority": 50}.',
        )
    if not isinstance(path, str):
        raise HookError(
            BAD_ENTRY,
            f"{where}: the hook path must be a string, not {path!r}.",
            'Use a dotted path such as "myapp.hooks.flush".',
        )
    try:
        target = import_path(path)
    except Exception as error:  # any import-time failure of the user's module counts
        raise HookError(
            NO_IMPORT,
            f"{where}: cannot import {path!r}: {error}",
            "Check the dotted path and that its module imports cleanly.",
        ) from error
    hook = hook_from_object(target, path, order=order, **options)
    if isinstance(entry, dict) and "name" in entry:
        hook.name = entry["name"]
    return hook


def load_hooks(entries: Any) -> tuple[list[Hook], list[HookError]]:
    """Every good entry as a `Hook`, and an error for every bad one."""
    if not isinstance(entries, (list, tuple)):
        kind = type(entries).__name__
        error = HookError(
            NOT_A_LIST,
            f"GRACEFUL_HOOKS must be a list, not {kind}.",
            'e.g. GRACEFUL_HOOKS = ["myapp.hooks.flush"]',
        )
        return [], [error]
    hooks: list[Hook] = []
    errors: list[HookError] = []
    for order, entry in enumerate(entries):
        try:
            hooks.append(load_entry(entry, order))
        except HookError as error:
            errors.append(error)
    return hooks, errors


def duplicate_names(hooks: Iterable[Hook]) -> list[HookError]:
    seen: set[str] = set()
    errors = []
    for hook in hooks:
        if hook.name in seen:
            errors.append(
                HookError(
                    DUPLICATE_NAME,
                    f"Two shutdown hooks are named {hook.name!r}.",
                    "Give one of them another name (the 'name' key of its entry).",
                )
            )
        seen.add(hook.name)
    return errors


def in_running_order(hooks: Iterable[Hook]) -> list[Hook]:
    """Highest priority first; ties in the order they were declared."""
    return sorted(hooks, key=lambda hook: (-hook.priority, hook.order))
