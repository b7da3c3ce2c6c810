"""Extension points, each a Django signal with a one-line contract.

Receivers run on the server's event loop thread; they must be quick and must not raise.
"""

from __future__ import annotations

from django.dispatch import Signal

# The server is up and our signal handlers are installed. Args: loop, adapter.
server_started = Signal()

# A graceful shutdown began (first SIGTERM/SIGINT or lifespan shutdown). Args: coordinator.
shutdown_started = Signal()

# The sequence is over, just before the server is let go. Args: report (sequence.Report).
shutdown_finished = Signal()
