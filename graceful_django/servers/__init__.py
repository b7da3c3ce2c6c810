"""Adapters that let the shutdown sequence drive the server it runs under.

An adapter knows how to stop the server accepting connections and how to let it exit
once the sequence is over; everything else is the same under every server.
"""

from __future__ import annotations

from .base import GenericAdapter, ServerAdapter

__all__ = ["GenericAdapter", "ServerAdapter"]
