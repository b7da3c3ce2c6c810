"""Connections opened by other threads are closed too, through django.db.connections."""

from __future__ import annotations

import gc
import threading
import weakref

import pytest
from django.db import connection, connections

from graceful_django import db
from graceful_django.state import get_state


def backend_pids_alive(pids: list[int]) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", [pids])
        return int(cursor.fetchone()[0])


@pytest.mark.django_db(transaction=True)
def test_connections_of_finished_threads_are_closed():
    pids: list[int] = []
    wrappers = []

    def work() -> None:
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            pids.append(cursor.fetchone()[0])
        wrappers.append(connections["default"])  # keeps it open, as CONN_MAX_AGE would

    threads = [threading.Thread(target=work) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(pids)) == 3
    assert backend_pids_alive(pids) == 3

    assert db.close_all_connections(get_state().databases) == []
    assert all(wrapper.connection is None for wrapper in wrappers)
    # The test's own connection was closed too; this query reopens it.
    assert backend_pids_alive(pids) == 0


@pytest.mark.django_db(transaction=True)
def test_driver_connections_that_outlive_their_wrapper_are_closed():
    wrapper = connections.create_connection("default")
    with wrapper.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pids = [cursor.fetchone()[0]]
    # Whatever keeps a driver connection alive once Django's wrapper is gone.
    driver_connection = wrapper.connection
    freed = weakref.ref(wrapper)
    del wrapper, cursor
    gc.collect()
    assert freed() is None
    assert backend_pids_alive(pids) == 1

    assert db.close_all_connections(get_state().databases) == []
    assert driver_connection.closed
    assert backend_pids_alive(pids) == 0
