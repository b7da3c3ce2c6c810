"""Value tests shared by the system checks and the hook loader (no Django here)."""

from __future__ import annotations

from typing import Any, TypeGuard


def is_number(value: Any) -> TypeGuard[int | float]:
    """An int or float, but not a bool (True is an int to Python, not a timeout to a user)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_whole_number(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)
