"""Helpers for testing your own code against a drain or a shutdown, in-process.

from graceful_django.testing import draining, run_shutdown_sequence

def test_view_is_refused_while_draining(client):
    with draining():
        assert client.get("/orders/").status_code == 503

def test_my_hooks_run():
    report = async_to_sync(run_shutdown_sequence)(timeout=5)
    assert report.deadline_reached is False
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from .conf import conf
from .core.coordinator import Coordinator
from .core.deadline import Deadline
from .core.sequence import Report, run_steps
from .servers.base import ServerAdapter
from .state import get_state
from .steps import build_steps


@contextmanager
def draining(*, refuse: bool = True) -> Iterator[Coordinator]:
    """Readiness fails (and, with `refuse`, new requests get 503) inside the block."""
    coordinator = get_state().coordinator
    coordinator.begin_drain(refuse=refuse)
    try:
        yield coordinator
    finally:
        coordinator.undrain()


async def run_shutdown_sequence(timeout: float | None = None) -> Report:
    """Run the whole sequence (websockets, requests, tasks, hooks, DB) without a server.

    The process state is reset before and after, so the test leaves the process serving.
    """
    state = get_state()
    state.reset()
    try:
        state.coordinator.begin_shutdown()
        deadline = Deadline(float(timeout if timeout is not None else conf.GRACEFUL_TIMEOUT))
        return await run_steps(build_steps(state, ServerAdapter()), deadline)
    finally:
        state.reset()
