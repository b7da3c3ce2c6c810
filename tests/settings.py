"""Test settings: the demo site's, on a real PostgreSQL, plus the test app."""

from __future__ import annotations

import os

from tests.database import ensure_database_url

ensure_database_url()
os.environ.setdefault("CONN_MAX_AGE", "60")

from project.database import database_from_env  # noqa: E402
from project.settings import *  # noqa: E402,F403
from project.settings import BASE_DIR, INSTALLED_APPS  # noqa: E402

INSTALLED_APPS = [*INSTALLED_APPS, "tests.testapp"]
if os.environ.get("TEST_WITHOUT_DAPHNE"):  # Django's own runserver (WSGI) instead of daphne's
    INSTALLED_APPS.remove("daphne")
DATABASES = {"default": database_from_env(BASE_DIR)}
# One test database per pytest run, so that runs in parallel never drop each other's.
DATABASES["default"]["TEST"] = {"NAME": f"test_graceful_{os.getpid()}"}
if os.environ.get("REPORT_BACKENDS_PER_PROCESS"):
    # Servers with several workers: each reports its own backends (testapp/receivers.py).
    DATABASES["default"]["OPTIONS"]["application_name"] += f"-{os.getpid()}"
ROOT_URLCONF = "tests.urls"

# Per test, so that parallel tests' `manage.py drain` never see each other's servers.
GRACEFUL_RUNTIME_DIR = os.environ.get("GRACEFUL_RUNTIME_DIR") or None
GRACEFUL_FLEET_GROUP = os.environ.get("GRACEFUL_FLEET_GROUP") or None

# Knobs of the websocket tests (tests/test_websockets.py), set per server process.
GRACEFUL_WS_CLOSE_TIMEOUT = float(os.environ.get("GRACEFUL_WS_CLOSE_TIMEOUT", "5"))
if os.environ.get("TEST_CHANNEL_LAYER") == "none":
    CHANNEL_LAYERS = {}

# Knobs of the hook and background task tests (tests/test_hooks.py, tests/test_tasks.py).
if os.environ.get("TEST_GRACEFUL_HOOKS"):
    import json as _json

    GRACEFUL_HOOKS = _json.loads(os.environ["TEST_GRACEFUL_HOOKS"])
for _name in ("GRACEFUL_HOOK_TIMEOUT", "GRACEFUL_TASK_TIMEOUT"):
    if os.environ.get(_name):
        globals()[_name] = float(os.environ[_name])
if os.environ.get("TEST_DEREGISTER_URL"):
    GRACEFUL_DEREGISTER_URLS = [os.environ["TEST_DEREGISTER_URL"]]
if os.environ.get("TEST_SAVE_STATE"):
    GRACEFUL_SAVE_STATE = os.environ["TEST_SAVE_STATE"]

# Knobs of the operations tests (tests/test_prestop.py, tests/test_fleet.py).
if os.environ.get("TEST_NO_LOGGING"):
    LOGGING = {}  # a project without a LOGGING setting
if os.environ.get("TEST_SECRET_KEY_FALLBACKS"):
    SECRET_KEY_FALLBACKS = os.environ["TEST_SECRET_KEY_FALLBACKS"].split(",")

# The drain's answer to late requests (tests/test_health.py, test_connections.py): "refuse"
# is the 503 of graceful_django 0.1; the default serves them.
if os.environ.get("GRACEFUL_DRAIN_MODE"):
    GRACEFUL_DRAIN_MODE = os.environ["GRACEFUL_DRAIN_MODE"]
if os.environ.get("GRACEFUL_SERVE_CUTOFF"):
    GRACEFUL_SERVE_CUTOFF = float(os.environ["GRACEFUL_SERVE_CUTOFF"])

# Knobs of the settings and metrics tests (tests/test_startup_checks.py, test_metrics.py).
if os.environ.get("TEST_PUSHGATEWAY"):
    GRACEFUL_PUSHGATEWAY = os.environ["TEST_PUSHGATEWAY"]
