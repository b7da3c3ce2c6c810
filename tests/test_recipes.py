"""Issue 12: the deployment recipes under deploy/ are right by construction, and are the README's.

Docker and Kubernetes cannot run on this machine; what is checked here is what makes the
recipes work: the signal reaches the server (exec form), every orchestrator waits longer
than GRACEFUL_TIMEOUT (plus the preStop drain, in Kubernetes) before its SIGKILL, and
the README shows exactly these files. The preStop order itself is played against a real
server by tests/test_prestop.py.
"""

from __future__ import annotations

import configparser
import json
import re
import shutil
import subprocess
import sys

import pytest

from tests.servers import ROOT

DEPLOY = ROOT / "deploy"
MARGIN = 5  # seconds for the process to exit and be seen exiting
yaml = pytest.importorskip("yaml", reason="PyYAML (from uvicorn[standard]) reads the recipes")


def _seconds(value: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)s?", value)
    assert match, f"not a number of seconds: {value!r}"
    return float(match.group(1))


def test_kubernetes_grace_period_covers_the_drain_and_the_shutdown():
    document = yaml.safe_load((DEPLOY / "kubernetes" / "deployment.yaml").read_text())
    pod = document["spec"]["template"]["spec"]
    [container] = pod["containers"]
    env = {item["name"]: float(item["value"]) for item in container["env"]}
    pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[:3] == ["python", "manage.py", "drain"] and "--no-delay" not in pre_stop
    drain_timeout = float(pre_stop[pre_stop.index("--timeout") + 1])
    assert isinstance(container["command"], list)  # exec form: the server gets SIGTERM
    assert drain_timeout > env["GRACEFUL_PRE_DRAIN_DELAY"]
    assert env["GRACEFUL_PRE_DRAIN_DELAY"] < env["GRACEFUL_TIMEOUT"]  # check E041
    needed = drain_timeout + env["GRACEFUL_TIMEOUT"] + MARGIN
    assert pod["terminationGracePeriodSeconds"] >= needed


def test_docker_cmd_is_exec_form_and_compose_waits_past_graceful_timeout():
    lines = (DEPLOY / "docker" / "Dockerfile").read_text().splitlines()
    [cmd] = [line for line in lines if line.startswith("CMD ")]
    assert isinstance(json.loads(cmd[len("CMD ") :]), list), cmd
    assert "STOPSIGNAL SIGTERM" in lines
    assert any(re.search(r"GRACEFUL_TIMEOUT=25\b", line) for line in lines)
    compose = yaml.safe_load((DEPLOY / "docker" / "compose.yaml").read_text())
    web = compose["services"]["web"]
    assert web["stop_signal"] == "SIGTERM"
    timeout = float(web["environment"]["GRACEFUL_TIMEOUT"])
    # docker's own default is 10 s, a third of GRACEFUL_TIMEOUT's default.
    assert _seconds(web["stop_grace_period"]) >= timeout + MARGIN


def _unit(name: str = "graceful-web.service") -> configparser.ConfigParser:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read_string((DEPLOY / "systemd" / name).read_text())
    return unit


def test_systemd_unit_signals_the_main_process_and_waits_past_graceful_timeout():
    service = _unit()["Service"]
    assert service["KillMode"] == "mixed" and service["KillSignal"] == "SIGTERM"
    match = re.search(r"GRACEFUL_TIMEOUT=(\d+)", service["Environment"])
    assert match, service["Environment"]
    timeout = float(match.group(1))
    assert _seconds(service["TimeoutStopSec"]) >= timeout + MARGIN
    assert service["ExecStart"].split()[0].endswith("/daphne")  # no shell in between


@pytest.mark.parametrize(
    "units", [["graceful-web.service"], ["graceful-web.socket", "graceful-web@.service"]]
)
def test_systemd_accepts_the_units(tmp_path, units):
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    for name in units:
        # The units name /srv/web; point them at this checkout so that their paths exist.
        text = (DEPLOY / "systemd" / name).read_text()
        text = text.replace("/srv/web/.venv", sys.prefix).replace("/srv/web", str(ROOT))
        (tmp_path / name).write_text(text)
    # A template is verified through an instance of it.
    paths = [str(tmp_path / name.replace("@.", "@1.")) for name in units]
    for name in units:
        if "@." in name:
            (tmp_path / name).rename(tmp_path / name.replace("@.", "@1."))
    result = subprocess.run(
        ["systemd-analyze", "verify", *paths], capture_output=True, text=True, timeout=30
    )
    # It warns (exit 0) about what it cannot parse: any output is a mistake in the unit.
    assert result.returncode == 0 and not result.stdout + result.stderr, result.stderr


def test_socket_activated_units_hand_the_socket_to_each_instance():
    socket_unit, service = _unit("graceful-web.socket"), _unit("graceful-web@.service")
    assert socket_unit["Socket"]["ListenStream"] == "127.0.0.1:8000"
    assert int(socket_unit["Socket"]["Backlog"]) >= 128  # the queue that holds a restart
    section = service["Service"]
    assert section["Sockets"] == "graceful-web.socket"
    assert "graceful-web.socket" in service["Unit"]["Requires"]
    # The command tests/test_deploys.py runs under a held socket (tests/servers.py).
    assert section["ExecStart"].split()[1:] == ["--fd", "3", "project.asgi:application"]
    match = re.search(r"GRACEFUL_TIMEOUT=(\d+)", section["Environment"])
    assert match, section["Environment"]
    assert _seconds(section["TimeoutStopSec"]) >= float(match.group(1)) + MARGIN


@pytest.mark.parametrize(
    "recipe",
    [
        "docker/Dockerfile",
        "docker/compose.yaml",
        "systemd/graceful-web.service",
        "systemd/graceful-web.socket",
        "systemd/graceful-web@.service",
        "kubernetes/deployment.yaml",
        "nginx/graceful-web.conf",
        "haproxy/haproxy.cfg",
    ],
)
def test_the_readme_shows_each_recipe_as_shipped(recipe):
    assert (DEPLOY / recipe).read_text() in (ROOT / "README.md").read_text(), recipe
