"""The system checks again, in every server process as it arms.

daphne and uvicorn never run `manage.py check`, so a bad value would otherwise reach the
first SIGTERM: `GRACEFUL_TIMEOUT = float("nan")` made a deadline that had already passed,
and every in-flight request was dropped. Here each message is logged with its id, and a
setting whose check failed is read as its default from then on (`conf.use_default`).

Falling back rather than refusing to start: a server that does not start turns one typo
into an outage of the whole deploy, and every default is the documented, safe behaviour;
the error line (and `manage.py check`, before the deploy) says what to fix.

A new check of a setting must add its id to `SETTING_OF`; the errors not listed there
(the middleware, one bad GRACEFUL_HOOKS entry, which the loader skips on its own) are
logged only.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core import checks

from .checks import TAG
from .conf import conf

logger = logging.getLogger("graceful_django")

SETTING_OF = {
    "graceful_django.E001": "GRACEFUL_TIMEOUT",
    "graceful_django.E002": "GRACEFUL_RETRY_AFTER",
    "graceful_django.E004": "GRACEFUL_PUSHGATEWAY",
    "graceful_django.E005": "GRACEFUL_PUSHGATEWAY_TIMEOUT",
    "graceful_django.E010": "GRACEFUL_WS_CLOSE_CODE",
    "graceful_django.E011": "GRACEFUL_WS_CLOSE_REASON",
    "graceful_django.E012": "GRACEFUL_WS_CLOSE_TIMEOUT",
    "graceful_django.E020": "GRACEFUL_HOOKS",
    "graceful_django.E030": "GRACEFUL_HOOK_TIMEOUT",
    "graceful_django.E031": "GRACEFUL_TASK_TIMEOUT",
    "graceful_django.E032": "GRACEFUL_DEREGISTER_URLS",
    "graceful_django.E033": "GRACEFUL_DEREGISTER_TIMEOUT",
    "graceful_django.E034": "GRACEFUL_SAVE_STATE",
    "graceful_django.E035": "GRACEFUL_SAVE_STATE",
    "graceful_django.E040": "GRACEFUL_PRE_DRAIN_DELAY",
    # A delay as long as the timeout: the delay goes, so in-flight work keeps its time.
    "graceful_django.E041": "GRACEFUL_PRE_DRAIN_DELAY",
    "graceful_django.E042": "GRACEFUL_HEALTH_PATHS",
    "graceful_django.E043": "GRACEFUL_RUNTIME_DIR",
    "graceful_django.E044": "GRACEFUL_FLEET_GROUP",
    "graceful_django.E045": "GRACEFUL_METRICS_PATH",
    "graceful_django.E046": "GRACEFUL_DRAIN_MODE",
    "graceful_django.E047": "GRACEFUL_SERVE_CUTOFF",
    # Whose default leaves time to serve: the computed one is a quarter of the timeout.
    "graceful_django.E048": "GRACEFUL_SERVE_CUTOFF",
}


def on_server_started(sender: Any, **kwargs: Any) -> None:
    check_settings()


def check_settings() -> list[checks.CheckMessage]:
    """Run the checks, log each message, fall back where one failed; returns the messages."""
    seen: list[checks.CheckMessage] = []
    # A default can uncover the next error (a timeout back at 30 s now shorter than the
    # pre-drain delay), so run again until no new setting fails; each round defaults one more.
    for _ in range(len(SETTING_OF) + 1):
        new = [message for message in checks.run_checks(tags=[TAG]) if message not in seen]
        seen += new
        failed = False
        for message in new:
            if message.is_silenced():
                continue
            setting = SETTING_OF.get(message.id or "") if message.is_serious() else None
            if setting is not None and setting not in conf.defaulted:
                conf.use_default(setting)
                failed = True
            _log(message, setting)
        if not failed:
            break
    return seen


def _log(message: checks.CheckMessage, setting: str | None) -> None:
    text = f"{message.id}: {message.msg}"
    if setting is not None:
        text += f" This process uses the default, {setting} = {conf.default(setting)!r}."
    elif message.hint:
        text += f" {message.hint}"
    logger.log(logging.ERROR if message.is_serious() else logging.WARNING, text)
