"""Every GRACEFUL_* setting, read when used so that `override_settings` works in tests.

Values are returned as written; `checks.py` tells the user when one is wrong. In a server
process the checks run again as it arms (`startup_checks.py`), and a setting that failed
its check is read as its default from then on (`use_default`), so that a bad value can
never cost in-flight work.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.conf import settings

from .core.validation import is_number

DEFAULT_TIMEOUT = 30.0  # Kubernetes' default terminationGracePeriodSeconds
DEFAULT_RETRY_AFTER = 5
DEFAULT_PRE_DRAIN_DELAY = 0.0
DRAIN_MODES = ("serve", "refuse")
DEFAULT_DRAIN_MODE = "serve"  # as Go's Server.Shutdown, Envoy and nginx: serve, then close
# Seconds before the deadline from which a request that still reaches a draining process
# gets a 503: its response might not fit. At most a quarter of what the pre-drain delay
# leaves of GRACEFUL_TIMEOUT, so that short timeouts still serve most of their time.
DEFAULT_SERVE_CUTOFF = 5.0
SERVE_CUTOFF_SHARE = 0.25
DEFAULT_WS_CLOSE_CODE = 1001  # Going Away
DEFAULT_WS_CLOSE_REASON = "Server shutting down"
DEFAULT_WS_CLOSE_TIMEOUT = 5.0
DEFAULT_TASK_TIMEOUT = 5.0
DEFAULT_HOOK_TIMEOUT = 5.0
DEFAULT_DEREGISTER_TIMEOUT = 2.0
DEFAULT_HEALTH_PATHS = ("/healthz/live", "/healthz/ready")  # where graceful_django.urls puts them
DEFAULT_PUSHGATEWAY_TIMEOUT = 2.0
PROMETHEUS_METRICS_PATH = "/metrics"  # where django_prometheus.urls puts its view
COMPUTED = object()  # a default that depends on other settings, see `Settings.default`

DEFAULTS: dict[str, Any] = {
    "GRACEFUL_TIMEOUT": DEFAULT_TIMEOUT,
    "GRACEFUL_RETRY_AFTER": DEFAULT_RETRY_AFTER,
    "GRACEFUL_PRE_DRAIN_DELAY": DEFAULT_PRE_DRAIN_DELAY,
    "GRACEFUL_DRAIN_MODE": DEFAULT_DRAIN_MODE,
    "GRACEFUL_SERVE_CUTOFF": COMPUTED,
    "GRACEFUL_WS_CLOSE_CODE": DEFAULT_WS_CLOSE_CODE,
    "GRACEFUL_WS_CLOSE_REASON": DEFAULT_WS_CLOSE_REASON,
    "GRACEFUL_WS_CLOSE_TIMEOUT": DEFAULT_WS_CLOSE_TIMEOUT,
    "GRACEFUL_TASK_TIMEOUT": DEFAULT_TASK_TIMEOUT,
    "GRACEFUL_HOOKS": (),
    "GRACEFUL_HOOK_TIMEOUT": DEFAULT_HOOK_TIMEOUT,
    "GRACEFUL_HEALTH_PATHS": DEFAULT_HEALTH_PATHS,
    "GRACEFUL_METRICS_PATH": COMPUTED,
    "GRACEFUL_PUSHGATEWAY": None,
    "GRACEFUL_PUSHGATEWAY_TIMEOUT": DEFAULT_PUSHGATEWAY_TIMEOUT,
    "GRACEFUL_RUNTIME_DIR": None,
    "GRACEFUL_FLEET_GROUP": None,
    "GRACEFUL_DEREGISTER_URLS": (),
    "GRACEFUL_DEREGISTER_TIMEOUT": DEFAULT_DEREGISTER_TIMEOUT,
    "GRACEFUL_SAVE_STATE": None,
}


class Settings:
    def __init__(self) -> None:
        self._defaulted: set[str] = set()

    def default(self, name: str) -> Any:
        value = DEFAULTS[name]
        if value is not COMPUTED:
            return value
        if name == "GRACEFUL_SERVE_CUTOFF":
            timeout, delay = self._get("GRACEFUL_TIMEOUT"), self._get("GRACEFUL_PRE_DRAIN_DELAY")
            if not is_number(timeout) or timeout <= 0:
                timeout = DEFAULT_TIMEOUT  # what a bad timeout falls back to (E001)
            if not is_number(delay) or not 0 <= delay < timeout:
                delay = DEFAULT_PRE_DRAIN_DELAY  # likewise (E040, E041)
            return min(DEFAULT_SERVE_CUTOFF, (timeout - delay) * SERVE_CUTOFF_SHARE)
        # GRACEFUL_METRICS_PATH
        return PROMETHEUS_METRICS_PATH if apps.is_installed("django_prometheus") else None

    def _get(self, name: str) -> Any:
        if name in self._defaulted:
            return self.default(name)
        return getattr(settings, name, self.default(name))

    def use_default(self, name: str) -> None:
        """From now on read `name` as its default (its value failed its check)."""
        self._defaulted.add(name)

    @property
    def defaulted(self) -> frozenset[str]:
        """The settings read as their default because their value failed its check."""
        return frozenset(self._defaulted)

    def clear_defaults(self) -> None:
        """Read every setting as written again (for tests)."""
        self._defaulted.clear()

    @property
    def GRACEFUL_TIMEOUT(self) -> float:
        """Seconds for the whole shutdown, from the signal to the exit."""
        return self._get("GRACEFUL_TIMEOUT")  # type: ignore[no-any-return]

    @property
    def GRACEFUL_RETRY_AFTER(self) -> int:
        """Seconds sent in `Retry-After` with the 503 given to work refused during a drain."""
        return self._get("GRACEFUL_RETRY_AFTER")  # type: ignore[no-any-return]

    @property
    def GRACEFUL_PRE_DRAIN_DELAY(self) -> float:
        """Seconds between failing readiness and the drain proper (load balancers catch up)."""
        return self._get("GRACEFUL_PRE_DRAIN_DELAY")  # type: ignore[no-any-return]

    @property
    def GRACEFUL_DRAIN_MODE(self) -> str:
        """What a request that reaches a draining process gets after the pre-drain delay:
        "serve" (served, with `Connection: close`) or "refuse" (a 503 at once)."""
        return self._get("GRACEFUL_DRAIN_MODE")  # type: ignore[no-any-return]

    @property
    def GRACEFUL_SERVE_CUTOFF(self) -> float:
        """Seconds before the deadline from which such a request gets a 503 in "serve" mode."""
        return self._get("GRACEFUL_SERVE_CUTOFF")  # type: ignore[no-any-return]

    @property
    def refuses_when_draining(self) -> bool:
        """Whether the drain proper refuses new work at once (the "refuse" mode)."""
        return self.GRACEFUL_DRAIN_MODE == "refuse"

    @property
    def GRACEFUL_WS_CLOSE_CODE(self) -> int:
        return self._get("GRACEFUL_WS_CLOSE_CODE")  # type: ignore[no-any-return]

    @property
    def GRACEFUL_WS_CLOSE_REASON(self) -> str:
        return self._get("GRACEFUL_WS_CLOSE_REASON")  # type: ignore[no-any-return]

    @property
    def GRACEFUL_WS_CLOSE_TIMEOUT(self) -> float:
        """Seconds the websockets may take to close before the rest are forced."""
        return self._get("GRACEFUL_WS_CLOSE_TIMEOUT")  # type: ignore[no-any-return]

    @property
    def GRACEFUL_TASK_TIMEOUT(self) -> float:
        """Seconds the background tasks may take to stop once cancelled."""
        return self._get("GRACEFUL_TASK_TIMEOUT")  # type: ignore[no-any-return]

    @property
    def GRACEFUL_HOOKS(self) -> list[Any]:
        return self._get("GRACEFUL_HOOKS")  # type: ignore[no-any-return]

    @property
    def GRACEFUL_HOOK_TIMEOUT(self) -> float:
        """Default timeout of a hook that does not name its own."""
        return self._get("GRACEFUL_HOOK_TIMEOUT")  # type: ignore[no-any-return]

    @property
    def GRACEFUL_HEALTH_PATHS(self) -> tuple[str, ...]:
        """Paths still answered while new work is refused (the health endpoints)."""
        return self._get("GRACEFUL_HEALTH_PATHS")  # type: ignore[no-any-return]

    @property
    def GRACEFUL_METRICS_PATH(self) -> str | None:
        """The metrics view's path, served untracked during a drain (None: no metrics view)."""
        return self._get("GRACEFUL_METRICS_PATH")  # type: ignore[no-any-return]

    @property
    def GRACEFUL_PUSHGATEWAY(self) -> str | None:
        """Prometheus Pushgateway the shutdown's metrics are pushed to as it ends (None: none)."""
        return self._get("GRACEFUL_PUSHGATEWAY")  # type: ignore[no-any-return]

    @property
    def GRACEFUL_PUSHGATEWAY_TIMEOUT(self) -> float:
        """Seconds the push may take; the shutdown ends anyway."""
        return self._get("GRACEFUL_PUSHGATEWAY_TIMEOUT")  # type: ignore[no-any-return]

    @property
    def GRACEFUL_RUNTIME_DIR(self) -> str | None:
        """Private directory of the per-process state files and control sockets (None: default)."""
        return self._get("GRACEFUL_RUNTIME_DIR")  # type: ignore[no-any-return]

    @property
    def GRACEFUL_FLEET_GROUP(self) -> str | None:
        """Channel-layer group of this project's server processes (None: derived from settings)."""
        return self._get("GRACEFUL_FLEET_GROUP")  # type: ignore[no-any-return]

    @property
    def GRACEFUL_DEREGISTER_URLS(self) -> list[str]:
        """URLs the built-in deregister hook POSTs to at shutdown (service discovery)."""
        return self._get("GRACEFUL_DEREGISTER_URLS")  # type: ignore[no-any-return]

    @property
    def GRACEFUL_DEREGISTER_TIMEOUT(self) -> float:
        """Seconds each deregistration POST may take."""
        return self._get("GRACEFUL_DEREGISTER_TIMEOUT")  # type: ignore[no-any-return]

    @property
    def GRACEFUL_SAVE_STATE(self) -> str | None:
        """Dotted path of a function (sync or async) the built-in save-state hook calls."""
        return self._get("GRACEFUL_SAVE_STATE")  # type: ignore[no-any-return]


conf = Settings()
