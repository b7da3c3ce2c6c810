"""The test settings without the optional extras: no daphne, no django-prometheus."""

from __future__ import annotations

from tests.settings import *  # noqa: F403
from tests.settings import INSTALLED_APPS

INSTALLED_APPS = [app for app in INSTALLED_APPS if app not in ("daphne", "django_prometheus")]
ROOT_URLCONF = "tests.urls_minimal"
