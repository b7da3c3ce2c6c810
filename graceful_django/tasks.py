"""Tracked background work (placeholder until the task API lands)."""

from __future__ import annotations

from .deadline import Deadline


async def cancel_all(deadline: Deadline) -> list[str]:
    return []
