from __future__ import annotations

from django.apps import AppConfig


class GracefulDjangoConfig(AppConfig):
    name = "graceful_django"
    verbose_name = "Graceful shutdown"

    def ready(self) -> None:
        # Checks and signal receivers only: no threads, handlers or sockets here,
        # since every management command runs ready() too.
        from django.core.signals import request_finished
        from django.db.backends.signals import connection_created

        from . import checks, startup_checks
        from .signals import server_started, shutdown_finished
        from .state import get_state

        checks.register()
        state = get_state()
        connection_created.connect(state.on_connection_created, dispatch_uid="graceful_django.db")
        # The close-caches hook closes every cache a request used, whatever its thread.
        request_finished.connect(state.on_request_finished, dispatch_uid="graceful.caches")
        # What only a server needs starts as it arms, never here: the settings checks
        # (connected first, so that the rest reads the defaults of bad settings), then the
        # metrics (in multiprocess mode every command would leave a series behind), the
        # control socket and the fleet listener.
        server_started.connect(startup_checks.on_server_started, dispatch_uid="graceful.checks")
        server_started.connect(state.on_server_started, dispatch_uid="graceful_django.operations")
        shutdown_finished.connect(state.on_shutdown_finished, dispatch_uid="graceful_django.ops")
