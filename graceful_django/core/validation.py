"""Value tests shared by the system checks and the hook loader (no Django here)."""

from __future__ import annotations

import math
from typing import Any, TypeGuard


def is_number(value: Any) -> TypeGuard[int | float]:
    """A finite int or float, but not a bool (True is an int to Python, not a timeout to a user).

    nan compares false with everything, so `nan <= 0` lets it through every range test, and
    inf would make a timeout that never ends: neither is a number of seconds.
    """
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def is_whole_number(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)
