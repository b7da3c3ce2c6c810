"""`manage.py drain`: take this project's server processes out of rotation and watch them empty.

Exit codes: see `graceful_django.operations.outcome` (0 done, 1 timeout, 2 no server,
3 bad arguments).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from graceful_django.conf import DEFAULT_TIMEOUT
from graceful_django.operations.fleet_client import DEFAULT_WINDOW
from graceful_django.operations.local_client import LocalDrain, find_servers
from graceful_django.operations.outcome import EXIT_USAGE, DrainError, Outcome
from graceful_django.operations.progress import ProgressView
from graceful_django.operations.runtime_state import (
    RuntimeDirError,
    ensure_private_dir,
    project_id,
    runtime_dir,
)


def _seconds(value: str, option: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not seconds >= 0 or seconds == float("inf"):
        raise DrainError(f"{option} must be a number of seconds >= 0, not {value!r}.", EXIT_USAGE)
    return seconds


def _pids(values: list[str]) -> list[int]:
    pids = []
    for value in values:
        if not value.isdigit() or int(value) <= 0:
            raise DrainError(
                f"--pid must be a process id (a positive whole number), not {value!r}.", EXIT_USAGE
            )
        pids.append(int(value))
    return pids


class Command(BaseCommand):
    help = (
        "Drain this project's running server processes: readiness fails, requests are still "
        "served for GRACEFUL_PRE_DRAIN_DELAY, then in-flight requests finish (what still "
        "arrives is served with Connection: close; a 503 with GRACEFUL_DRAIN_MODE = 'refuse'). "
        "Exit 0 drained, 1 timeout, 2 no server found, 3 bad arguments."
    )
    # A preStop hook must not fail on a check warning; this command touches no database.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--timeout",
            default=str(DEFAULT_TIMEOUT),
            help=f"seconds to wait for the drain (default {DEFAULT_TIMEOUT:g})",
        )
        parser.add_argument(
            "--pid", action="append", default=[], help="only this server process (repeatable)"
        )
        parser.add_argument(
            "--no-delay",
            action="store_true",
            help="refuse new work at once, skipping GRACEFUL_PRE_DRAIN_DELAY",
        )
        action = parser.add_argument_group("what to do (default: drain)")
        action.add_argument(
            "--shutdown",
            action="store_true",
            help="after the drain, SIGTERM the processes and wait for them to exit",
        )
        action.add_argument("--undrain", action="store_true", help="put them back to serving")
        action.add_argument("--status", action="store_true", help="only report their state")
        parser.add_argument(
            "--json", action="store_true", help="print one JSON document, no progress"
        )
        parser.add_argument(
            "--fleet",
            action="store_true",
            help="every process of the project, on every host, over the channel layer",
        )
        parser.add_argument(
            "--window",
            default=f"{DEFAULT_WINDOW:g}",
            help=f"--fleet: seconds to wait for processes to answer (default {DEFAULT_WINDOW:g})",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            outcome = self._run(options)
        except DrainError as error:
            if options["json"]:
                self.stdout.write(
                    json.dumps({"exit_code": error.code, "message": str(error), "servers": []})
                )
            raise CommandError(str(error), returncode=error.code) from error
        if options["json"]:
            self.stdout.write(json.dumps(outcome.as_dict(), indent=2))
        elif outcome.code == 0:
            self.stdout.write(outcome.message)
        if outcome.code != 0:
            raise CommandError(outcome.message, returncode=outcome.code)

    def _run(self, options: dict[str, Any]) -> Outcome:
        # Every argument is checked before any server hears from us.
        timeout = _seconds(options["timeout"], "--timeout")
        window = _seconds(options["window"], "--window")
        pids = _pids(options["pid"])
        chosen = [name for name in ("shutdown", "undrain", "status") if options[name]]
        if len(chosen) > 1:
            raise DrainError(f"choose one of --{' or --'.join(chosen)}.", EXIT_USAGE)
        action = chosen[0] if chosen else "drain"
        view = ProgressView(
            self.stdout, tty=self.stdout.isatty(), enabled=not options["json"], timeout=timeout
        )
        delay = not options["no_delay"]
        if options["fleet"]:
            return self._fleet(action, pids, timeout, window, view, delay)
        try:
            directory = ensure_private_dir(runtime_dir())
        except RuntimeDirError as error:
            raise DrainError(f"{error}.", EXIT_USAGE) from error
        records = find_servers(directory, project_id(), pids)
        drain = LocalDrain(directory, records, view, delay=delay)
        return asyncio.run(drain.run(action, timeout))

    def _fleet(
        self,
        action: str,
        pids: list[int],
        timeout: float,
        window: float,
        view: ProgressView,
        delay: bool,
    ) -> Outcome:
        from channels.layers import get_channel_layer

        from graceful_django.operations.fleet import group_name, is_cross_process
        from graceful_django.operations.fleet_client import FleetDrain

        if action == "shutdown":
            raise DrainError(
                "--shutdown works on this host only; stop fleet processes with your "
                "orchestrator once `drain --fleet` has drained them.",
                EXIT_USAGE,
            )
        if pids:
            raise DrainError(
                "--pid names processes of this host; it cannot be combined with --fleet.",
                EXIT_USAGE,
            )
        layer = get_channel_layer()
        if not is_cross_process(layer):
            name = type(layer).__name__ if layer is not None else "no channel layer"
            raise DrainError(
                f"--fleet needs a channel layer shared by every server process (e.g. "
                f"channels_redis.core.RedisChannelLayer); CHANNEL_LAYERS['default'] is {name}, "
                f"which cannot reach other processes.",
                EXIT_USAGE,
            )
        drain = FleetDrain(layer, group_name(), view, window, delay=delay)
        return asyncio.run(drain.run(action, timeout))
