"""The operations services of one server process, started with the server.

One status feed, shared by the control socket (`manage.py drain` on this host) and the
fleet listener (`manage.py drain --fleet`, when the channel layer spans processes); and
the drain log, the server's own account of what a drain waits for.
"""

from __future__ import annotations

import asyncio
import logging

from ..core.coordinator import Coordinator
from ..core.pre_drain import PreDrain
from ..servers.base import ServerAdapter
from .control import ControlServer
from .drain_log import DrainLog
from .fleet import FleetListener, group_name, is_cross_process
from .runtime_state import RuntimeDirError, ensure_private_dir, runtime_dir
from .status import StatusFeed

logger = logging.getLogger("graceful_django")


class Operations:
    def __init__(self) -> None:
        self.feed: StatusFeed | None = None
        self.control: ControlServer | None = None
        self.fleet: FleetListener | None = None
        self.drain_log: DrainLog | None = None
        self._fleet_task: asyncio.Task[None] | None = None
        # The loop keeps only weak references to tasks.
        self._tasks: set[asyncio.Future[None]] = set()

    def start(
        self,
        coordinator: Coordinator,
        pre_drain: PreDrain,
        adapter: ServerAdapter,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.feed = StatusFeed(coordinator, adapter, loop, pre_drain)
        self.drain_log = DrainLog(coordinator, pre_drain, loop)
        self._start_control(self.feed, loop)
        self._start_fleet(self.feed, loop)

    def _keep(self, task: asyncio.Future[None]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _start_control(self, feed: StatusFeed, loop: asyncio.AbstractEventLoop) -> None:
        try:
            self.control = ControlServer(feed, ensure_private_dir(runtime_dir()))
        except (RuntimeDirError, OSError) as error:
            logger.error("manage.py drain will not reach this process: %s", error)
            return
        self._keep(loop.create_task(_start_control(self.control)))

    def _start_fleet(self, feed: StatusFeed, loop: asyncio.AbstractEventLoop) -> None:
        from channels.layers import get_channel_layer

        try:
            layer = get_channel_layer()
        except Exception as error:  # a broken CHANNEL_LAYERS must not stop the server
            logger.warning("fleet control disabled: %s", error)
            return
        if not is_cross_process(layer):
            return
        listener = FleetListener(layer, group_name(), feed)
        self.fleet = listener
        feed.extras["fleet_rejected"] = lambda: dict(listener.verifier.rejected)
        self._fleet_task = loop.create_task(listener.run())

    def stop(self) -> None:
        """At the end of the shutdown: gone from the runtime directory and the fleet group."""
        if self.control is not None:
            self.control.stop()
        if self._fleet_task is not None and self.fleet is not None:
            self._fleet_task.cancel()
            # Best effort: the process may exit before Redis answers.
            self._keep(asyncio.ensure_future(self.fleet.stop(), loop=self._fleet_task.get_loop()))


async def _start_control(server: ControlServer) -> None:
    try:
        await server.start()
    except OSError as error:
        server.server = None
        logger.error(
            "cannot open the control socket in %s (%s): manage.py drain will not reach this "
            "process; the shutdown is not affected",
            server.directory,
            error,
        )
