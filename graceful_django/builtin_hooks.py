"""The built-in hooks under the dotted paths users list in GRACEFUL_HOOKS (and metric labels).

They live in `graceful_django.hooks.builtin`; this path stays so that settings never change.
"""

from __future__ import annotations

from .hooks.builtin import close_caches, deregister, mark_prometheus_process_dead, save_state

__all__ = ["close_caches", "deregister", "mark_prometheus_process_dead", "save_state"]
