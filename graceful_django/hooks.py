"""Shutdown hooks from GRACEFUL_HOOKS (placeholder until the hook runner lands)."""

from __future__ import annotations

from .deadline import Deadline


async def run_all(deadline: Deadline) -> list[str]:
    return []
