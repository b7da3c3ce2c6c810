"""Every GRACEFUL_* setting, read when used so that `override_settings` works in tests.

Values are returned as written; `checks.py` tells the user when one is wrong.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

DEFAULT_TIMEOUT = 30.0  # Kubernetes' default terminationGracePeriodSeconds
DEFAULT_RETRY_AFTER = 5
DEFAULT_PRE_DRAIN_DELAY = 0.0
DEFAULT_WS_CLOSE_CODE = 1001  # Going Away
DEFAULT_WS_CLOSE_REASON = "Server shutting down"
DEFAULT_WS_CLOSE_TIMEOUT = 5.0
DEFAULT_TASK_TIMEOUT = 5.0
DEFAULT_HOOK_TIMEOUT = 5.0
DEFAULT_DEREGISTER_TIMEOUT = 2.0
DEFAULT_HEALTH_PATHS = ("/healthz/live", "/healthz/ready")  # where graceful_django.urls puts them


class Settings:
    def _get(self, name: str, default: Any) -> Any:
        return getattr(settings, name, default)

    @property
    def GRACEFUL_TIMEOUT(self) -> float:
        """Seconds for the whole shutdown, from the signal to the exit."""
        return self._get("GRACEFUL_TIMEOUT", DEFAULT_TIMEOUT)  # type: ignore[no-any-return]

    @property
    def GRACEFUL_RETRY_AFTER(self) -> int:
        """Seconds sent in `Retry-After` with the 503 given to work refused during a drain."""
        return self._get("GRACEFUL_RETRY_AFTER", DEFAULT_RETRY_AFTER)  # type: ignore[no-any-return]

    @property
    def GRACEFUL_PRE_DRAIN_DELAY(self) -> float:
        """Seconds between failing readiness and refusing work (load balancers catch up)."""
        return self._get("GRACEFUL_PRE_DRAIN_DELAY", DEFAULT_PRE_DRAIN_DELAY)  # type: ignore[no-any-return]

    @property
    def GRACEFUL_WS_CLOSE_CODE(self) -> int:
        return self._get("GRACEFUL_WS_CLOSE_CODE", DEFAULT_WS_CLOSE_CODE)  # type: ignore[no-any-return]

    @property
    def GRACEFUL_WS_CLOSE_REASON(self) -> str:
        return self._get("GRACEFUL_WS_CLOSE_REASON", DEFAULT_WS_CLOSE_REASON)  # type: ignore[no-any-return]

    @property
    def GRACEFUL_WS_CLOSE_TIMEOUT(self) -> float:
        """Seconds the websockets may take to close before the rest are forced."""
        return self._get("GRACEFUL_WS_CLOSE_TIMEOUT", DEFAULT_WS_CLOSE_TIMEOUT)  # type: ignore[no-any-return]

    @property
    def GRACEFUL_TASK_TIMEOUT(self) -> float:
        """Seconds the background tasks may take to stop once cancelled."""
        return self._get("GRACEFUL_TASK_TIMEOUT", DEFAULT_TASK_TIMEOUT)  # type: ignore[no-any-return]

    @property
    def GRACEFUL_HOOKS(self) -> list[Any]:
        return self._get("GRACEFUL_HOOKS", [])  # type: ignore[no-any-return]

    @property
    def GRACEFUL_HOOK_TIMEOUT(self) -> float:
        """Default timeout of a hook that does not name its own."""
        return self._get("GRACEFUL_HOOK_TIMEOUT", DEFAULT_HOOK_TIMEOUT)  # type: ignore[no-any-return]

    @property
    def GRACEFUL_HEALTH_PATHS(self) -> tuple[str, ...]:
        """Paths still answered while new work is refused (the health endpoints)."""
        return self._get("GRACEFUL_HEALTH_PATHS", DEFAULT_HEALTH_PATHS)  # type: ignore[no-any-return]

    @property
    def GRACEFUL_RUNTIME_DIR(self) -> str | None:
        """Private directory of the per-process state files and control sockets (None: default)."""
        return self._get("GRACEFUL_RUNTIME_DIR", None)  # type: ignore[no-any-return]

    @property
    def GRACEFUL_FLEET_GROUP(self) -> str | None:
        """Channel-layer group of this project's server processes (None: derived from settings)."""
        return self._get("GRACEFUL_FLEET_GROUP", None)  # type: ignore[no-any-return]

    @property
    def GRACEFUL_DEREGISTER_URLS(self) -> list[str]:
        """URLs the built-in deregister hook POSTs to at shutdown (service discovery)."""
        return self._get("GRACEFUL_DEREGISTER_URLS", [])  # type: ignore[no-any-return]

    @property
    def GRACEFUL_DEREGISTER_TIMEOUT(self) -> float:
        """Seconds each deregistration POST may take."""
        value: float = self._get("GRACEFUL_DEREGISTER_TIMEOUT", DEFAULT_DEREGISTER_TIMEOUT)
        return value

    @property
    def GRACEFUL_SAVE_STATE(self) -> str | None:
        """Dotted path of a function (sync or async) the built-in save-state hook calls."""
        return self._get("GRACEFUL_SAVE_STATE", None)  # type: ignore[no-any-return]


conf = Settings()
