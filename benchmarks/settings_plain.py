"""The demo site without graceful_django's middleware: the baseline of the overhead benchmark."""

from project.settings import *  # noqa: F403
from project.settings import MIDDLEWARE

MIDDLEWARE = [m for m in MIDDLEWARE if not m.startswith("graceful_django.")]
