"""graceful_django's own dependencies are honest: the extras are optional, and work without."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from django.core import checks

from graceful_django import metrics
from tests.servers import ROOT, ServerProcess

OPTIONAL = ("daphne", "twisted", "autobahn", "prometheus_client", "django_prometheus")


def test_pip_install_pulls_neither_psycopg_nor_daphne_nor_prometheus():
    with tempfile.TemporaryDirectory() as directory:
        report = Path(directory) / "report.json"
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--dry-run", "--ignore-installed"]
            + ["--report", str(report), str(ROOT)],
            check=True,
            timeout=180,
        )
        names = {
            item["metadata"]["name"].lower() for item in json.loads(report.read_text())["install"]
        }
    assert "django" in names and "channels" in names
    assert not names & {"psycopg", "psycopg-binary", "daphne", "twisted", "django-prometheus"}


class WithoutExtras(ServerProcess):
    """uvicorn in a process where the optional packages cannot be imported."""

    def command(self) -> list[str]:
        block = "; ".join(f"sys.modules[{name!r}] = None" for name in OPTIONAL)
        run = (
            f"import sys; {block}; import uvicorn; "
            f"sys.argv = ['uvicorn', {self.app!r}, '--host', '127.0.0.1', "
            f"'--port', '{self.port}']; "
            "uvicorn.main()"
        )
        return [sys.executable, "-c", run]


def test_a_server_without_daphne_or_prometheus_drains(transactional_db):
    server = WithoutExtras(
        kind="uvicorn",
        env={"DJANGO_SETTINGS_MODULE": "tests.settings_minimal"},
    )
    from tests.conftest import database_url_for_test_db

    server.env["DATABASE_URL"] = database_url_for_test_db()
    try:
        server.start()
        with ThreadPoolExecutor(4) as pool:
            url = f"{server.base_url}/slow/async?seconds=1&token=minimal"
            futures = [pool.submit(httpx.get, url, timeout=30) for _ in range(2)]
            server.wait_for_count(r"wrote async minimal", 2)
            server.send(signal.SIGTERM)
            assert [future.result().status_code for future in futures] == [200, 200]
        assert server.wait_exit(20) == 0, server.output
        assert "Traceback" not in server.output, server.output
    finally:
        server.kill()


def test_w002_multiprocess_dir_without_prometheus_client(monkeypatch):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", tempfile.gettempdir())
    monkeypatch.setattr(metrics, "PROMETHEUS", False)
    ids = [message.id for message in checks.run_checks()]
    assert "graceful_django.W002" in ids
    monkeypatch.setattr(metrics, "PROMETHEUS", True)
    assert "graceful_django.W002" not in [message.id for message in checks.run_checks()]
