"""Closes every database connection the process opened, in every thread.

Django keeps connections per thread (and per async context), and `connections.close_all()`
only closes the caller's. Under ASGI each sync view runs in a thread of its own request
context, so with CONN_MAX_AGE > 0 connections outlive their threads. The
`connection_created` signal sees each of them open; we keep a weak reference and close
them all at the end, allowing the cross-thread close that Django otherwise refuses.

A wrapper whose thread is gone can be freed before its driver connection: psycopg's
connection sits in reference cycles and keeps its socket (and a PostgreSQL backend) until
the cyclic garbage collector runs. So the driver connections are remembered too, and
closed directly when their wrapper is already gone.
"""

from __future__ import annotations

import gc
import logging
import threading
import weakref
from typing import Any

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

logger = logging.getLogger("graceful_django")


class OpenedConnections:
    """Weak references to every connection the process opened (wrappers and drivers)."""

    def __init__(self) -> None:
        self._opened: weakref.WeakSet[BaseDatabaseWrapper] = weakref.WeakSet()
        self._drivers: weakref.WeakSet[Any] = weakref.WeakSet()
        self._lock = threading.Lock()

    def remember(self, connection: BaseDatabaseWrapper) -> None:
        with self._lock:
            self._opened.add(connection)
            try:
                self._drivers.add(connection.connection)
            except TypeError:
                pass  # sqlite3 connections take no weak reference; they hold no server anyway

    def open_wrappers(self) -> list[BaseDatabaseWrapper]:
        with self._lock:
            return [wrapper for wrapper in self._opened if wrapper.connection is not None]

    def orphaned_drivers(self) -> list[Any]:
        """Driver connections still open although no wrapper holds them any more."""
        with self._lock:
            held = {id(w.connection) for w in self._opened if w.connection is not None}
            return [
                conn
                for conn in self._drivers
                if id(conn) not in held and not getattr(conn, "closed", True)
            ]


def close_all_connections(opened: OpenedConnections) -> list[str]:
    """Close them all; return a description of each connection that refused to close."""
    failed: list[str] = []
    # The caller's own connections first, the ordinary way.
    connections.close_all()
    still_open = opened.open_wrappers()
    for wrapper in still_open:
        wrapper.inc_thread_sharing()
        try:
            wrapper.close()
        except Exception as error:  # one broken connection must not keep the others open
            failed.append(f"{wrapper.alias}: {type(error).__name__}: {error}")
            logger.warning("could not close database connection %s: %s", wrapper.alias, error)
        finally:
            wrapper.dec_thread_sharing()
    # A wrapper freed with its thread can leave its driver's socket in a reference cycle
    # (a cursor keeps the libpq connection) that no weak reference of ours reaches any more:
    # collecting the cycles now finalizes them, and so closes their sockets.
    gc.collect()
    orphans = opened.orphaned_drivers()
    for driver_connection in orphans:
        try:
            driver_connection.close()
        except Exception as error:
            failed.append(f"orphaned connection: {type(error).__name__}: {error}")
    logger.info(
        "closed %d database connection(s) left open by other threads and %d orphaned ones",
        len(still_open),
        len(orphans),
    )
    return failed
