"""System checks of the hooks and background task settings (ids E020-E039, W020-W039).

The hook paths are imported here, so a typo fails `manage.py check` before the deploy
rather than the shutdown.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from django.core import checks

from ..conf import conf
from ..core.validation import is_number
from .api import registered_hooks
from .loading import duplicate_names, import_path, load_hooks

HOOK_TIMEOUT = "graceful_django.E030"
TASK_TIMEOUT = "graceful_django.E031"
DEREGISTER_URLS = "graceful_django.E032"
DEREGISTER_TIMEOUT = "graceful_django.E033"
SAVE_STATE_IMPORT = "graceful_django.E034"
SAVE_STATE_CALLABLE = "graceful_django.E035"
HOOK_TIMEOUT_TOO_LONG = "graceful_django.W020"


def check_hooks(**kwargs: Any) -> list[checks.CheckMessage]:
    hooks, errors = load_hooks(conf.GRACEFUL_HOOKS)
    hooks += registered_hooks()
    errors += duplicate_names(hooks)
    messages: list[checks.CheckMessage] = [
        checks.Error(error.message, hint=error.hint, id=error.id) for error in errors
    ]
    timeout = conf.GRACEFUL_TIMEOUT
    if not is_number(timeout):
        return messages  # E001's to report
    default = conf.GRACEFUL_HOOK_TIMEOUT
    for hook in hooks:
        if hook.timeout is not None and hook.timeout >= timeout:
            messages.append(_too_long(f"Shutdown hook {hook.name!r} has", hook.timeout, timeout))
    if is_number(default) and default >= timeout:
        # The default applies to every hook without its own timeout; the built-in
        # close-caches hook is always one of them.
        messages.append(_too_long("GRACEFUL_HOOK_TIMEOUT is", default, timeout))
    return messages


def _too_long(what: str, seconds: float, timeout: float) -> checks.CheckMessage:
    return checks.Warning(
        f"{what} a timeout of {seconds:g}s, not less than GRACEFUL_TIMEOUT ({timeout:g}s).",
        hint="A hook can never have that long; the whole shutdown shares one deadline, and a "
        "hook that hangs would leave no time for closing the database connections.",
        id=HOOK_TIMEOUT_TOO_LONG,
    )


def _seconds_error(name: str, value: Any, id: str, hint: str) -> list[checks.CheckMessage]:
    if is_number(value) and value > 0:
        return []
    return [
        checks.Error(
            f"{name} must be a positive number of seconds, not {value!r}.", hint=hint, id=id
        )
    ]


def check_timeouts(**kwargs: Any) -> list[checks.CheckMessage]:
    return [
        *_seconds_error(
            "GRACEFUL_HOOK_TIMEOUT",
            conf.GRACEFUL_HOOK_TIMEOUT,
            HOOK_TIMEOUT,
            "The time a hook without its own timeout may take, e.g. 5.",
        ),
        *_seconds_error(
            "GRACEFUL_TASK_TIMEOUT",
            conf.GRACEFUL_TASK_TIMEOUT,
            TASK_TIMEOUT,
            "The time cancelled background tasks get to end, e.g. 5.",
        ),
        *_seconds_error(
            "GRACEFUL_DEREGISTER_TIMEOUT",
            conf.GRACEFUL_DEREGISTER_TIMEOUT,
            DEREGISTER_TIMEOUT,
            "The time each deregistration POST may take, e.g. 2.",
        ),
    ]


def check_deregister_urls(**kwargs: Any) -> list[checks.CheckMessage]:
    urls = conf.GRACEFUL_DEREGISTER_URLS
    if isinstance(urls, (list, tuple)):
        bad = [url for url in urls if not _is_http_url(url)]
        if not bad:
            return []
        message = f"GRACEFUL_DEREGISTER_URLS has entries that are not http(s) URLs: {bad!r}."
    else:
        message = f"GRACEFUL_DEREGISTER_URLS must be a list of URLs, not {type(urls).__name__}."
    return [
        checks.Error(
            message,
            hint='e.g. ["http://consul:8500/v1/agent/service/deregister/web-1"]',
            id=DEREGISTER_URLS,
        )
    ]


def _is_http_url(url: Any) -> bool:
    if not isinstance(url, str):
        return False
    parsed = urlparse(url)
    return parsed.scheme in ("http", "https") and bool(parsed.netloc)


def check_save_state(**kwargs: Any) -> list[checks.CheckMessage]:
    path = conf.GRACEFUL_SAVE_STATE
    if path is None:
        return []
    try:
        if not isinstance(path, str):
            raise ImportError(f"the setting must be a dotted path string, not {path!r}")
        target = import_path(path)
    except Exception as error:
        return [
            checks.Error(
                f"GRACEFUL_SAVE_STATE: cannot import {path!r}: {error}",
                hint="Give the dotted path of a function, e.g. 'myapp.state.save'.",
                id=SAVE_STATE_IMPORT,
            )
        ]
    if not callable(target):
        return [
            checks.Error(
                f"GRACEFUL_SAVE_STATE: {path!r} is not callable.",
                hint="It must be a function (sync or async) taking no arguments.",
                id=SAVE_STATE_CALLABLE,
            )
        ]
    return []


ALL_CHECKS = (check_hooks, check_timeouts, check_deregister_urls, check_save_state)
