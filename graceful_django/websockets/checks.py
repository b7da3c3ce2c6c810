"""System checks of the websocket settings (ids graceful_django.E010-E019, W010-W019)."""

from __future__ import annotations

from typing import Any

from django.core import checks

from ..conf import conf
from ..core.validation import is_number
from .transport import MAX_REASON_BYTES, is_sendable_close_code


def check_ws_close_code(**kwargs: Any) -> list[checks.CheckMessage]:
    code = conf.GRACEFUL_WS_CLOSE_CODE
    if is_sendable_close_code(code):
        return []
    return [
        checks.Error(
            f"GRACEFUL_WS_CLOSE_CODE must be a close code a server may send, not {code!r}.",
            hint="Use 1001 (Going Away, the default) or 1012 (Service Restart); any of "
            "1000-1014 except the reserved 1004-1006, or an application code 3000-4999.",
            id="graceful_django.E010",
        )
    ]


def check_ws_close_reason(**kwargs: Any) -> list[checks.CheckMessage]:
    reason = conf.GRACEFUL_WS_CLOSE_REASON
    if not isinstance(reason, str):
        message = f"GRACEFUL_WS_CLOSE_REASON must be a string, not {reason!r}."
    elif len(reason.encode("utf-8")) > MAX_REASON_BYTES:
        message = (
            f"GRACEFUL_WS_CLOSE_REASON is {len(reason.encode('utf-8'))} bytes in UTF-8; "
            f"a close frame holds at most {MAX_REASON_BYTES}."
        )
    else:
        return []
    return [
        checks.Error(
            message,
            hint="Keep it short, e.g. 'Server restarting'; send longer text as the last message.",
            id="graceful_django.E011",
        )
    ]


def check_ws_close_timeout(**kwargs: Any) -> list[checks.CheckMessage]:
    timeout = conf.GRACEFUL_WS_CLOSE_TIMEOUT
    if not is_number(timeout) or timeout < 0:
        return [
            checks.Error(
                f"GRACEFUL_WS_CLOSE_TIMEOUT must be a number of seconds >= 0, not {timeout!r}.",
                hint="Clients answer a close frame within a round trip; a few seconds, e.g. 5.",
                id="graceful_django.E012",
            )
        ]
    total = conf.GRACEFUL_TIMEOUT
    if is_number(total) and total > 0 and timeout >= total:
        return [
            checks.Warning(
                f"GRACEFUL_WS_CLOSE_TIMEOUT ({timeout}s) is not shorter than GRACEFUL_TIMEOUT "
                f"({total}s): a websocket that does not close leaves no time for the requests, "
                "the background tasks and the hooks.",
                hint="Make it a small part of GRACEFUL_TIMEOUT, e.g. 5 of 30.",
                id="graceful_django.W010",
            )
        ]
    return []


ALL_CHECKS = (check_ws_close_code, check_ws_close_reason, check_ws_close_timeout)
