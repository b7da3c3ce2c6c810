"""Graceful shutdown for Django + Channels sites under daphne and uvicorn."""

from __future__ import annotations

__version__ = "0.1.0"


def is_draining() -> bool:
    """True from the first moment of a drain or a shutdown of this process: it should get no
    new traffic. For other health-check apps (django-health-check...); answered from memory.
    """
    # Imported here: `import graceful_django` must not need Django (the engine runs without).
    from .operations.health import is_draining as draining

    return draining()


__all__ = ["is_draining"]
