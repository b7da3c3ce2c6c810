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

        from . import checks, db, metrics
        from .core.coordinator import get_coordinator
        from .hooks import builtin as builtin_hooks
        from .operations import control, fleet
        from .signals import server_started, shutdown_finished

        checks.register()
        connection_created.connect(db.remember_connection, dispatch_uid="graceful_django.db")
        # The close-caches hook closes every cache a request used, whatever its thread.
        request_finished.connect(builtin_hooks.remember_caches, dispatch_uid="graceful.caches")
        metrics.Metrics.get_instance().watch(get_coordinator())
        shutdown_finished.connect(metrics.record_shutdown, dispatch_uid="graceful_django.metrics")
        # Operating a drain: the control socket and the fleet listener start with the server.
        for module in (control, fleet):
            uid = f"graceful_django.{module.__name__}"
            server_started.connect(module.on_server_started, dispatch_uid=uid)
            shutdown_finished.connect(module.on_shutdown_finished, dispatch_uid=uid)
