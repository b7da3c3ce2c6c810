"""Issue 17: a rolling restart of two instances behind the real nginx and HAProxy.

The proxies run the recipes of deploy/ (tests/proxies.py); the instances run graceful_django
on its default settings. Instance A gets SIGTERM, exits and starts again; once it serves
through the proxy, the same for B. The clients talk to the proxy only, and see no error.
The Kubernetes order runs `manage.py drain` first (the preStop hook), with a pre-drain
delay that lets HAProxy's readiness checks take the instance out, then SIGTERM.
"""

from __future__ import annotations

import asyncio
import signal

import pytest

from project.demo.models import Write
from tests.deploy_load import Load, summarize
from tests.operations import run_drain
from tests.proxies import HAPROXY, NGINX, proxy_story, running_proxy
from tests.servers import ServerProcess, free_port

# Under load, every client error counted: run alone (tests/run_suite.py).
pytestmark = pytest.mark.serial

ENV = {"CONN_MAX_AGE": "0"}  # Django's advice under ASGI; see tests/test_deploys.py
PROXIES = {
    "nginx": pytest.mark.skipif(NGINX is None, reason="nginx is not installed (Debian: nginx)"),
    "haproxy": pytest.mark.skipif(
        HAPROXY is None, reason="haproxy is not installed (Debian: haproxy)"
    ),
}
# Served through the proxy: the access line each server logs for a request.
SERVED = {"uvicorn": r'"GET /ping HTTP/1.1" 200', "daphne": r'"GET /ping" 200'}


CASES = [
    pytest.param("nginx", "uvicorn", False, marks=PROXIES["nginx"], id="nginx-uvicorn"),
    pytest.param("haproxy", "daphne", False, marks=PROXIES["haproxy"], id="haproxy-daphne"),
    pytest.param(
        "haproxy", "uvicorn", True, marks=PROXIES["haproxy"], id="haproxy-uvicorn-prestop"
    ),
]


@pytest.mark.parametrize(("proxy", "kind", "prestop"), CASES)
def test_rolling_restart_behind_a_proxy_shows_no_error(
    server_factory, runtime_env, proxy, kind, prestop
):
    env = {**ENV, **runtime_env}
    if prestop:
        # HAProxy checks every 0.5 s, fall 2: out within about 1 s, plus a check's time.
        env["GRACEFUL_PRE_DRAIN_DELAY"] = "2.5"
    ports = (free_port(), free_port())
    servers: list[ServerProcess] = [server_factory(kind, env=env, port=port) for port in ports]

    async def restart(index: int, load: Load) -> None:
        old = servers[index]
        assert old.process is not None
        if prestop:  # Kubernetes: the preStop hook runs to its end, then SIGTERM
            drained = await asyncio.to_thread(
                run_drain, runtime_env, "--pid", str(old.process.pid), "--timeout", "10"
            )
            assert drained.returncode == 0, drained.stdout + drained.stderr
        old.send(signal.SIGTERM)
        assert await asyncio.to_thread(old.wait_exit, 30) == 0, old.output
        new = await asyncio.to_thread(server_factory, kind, env=env, port=ports[index])
        servers[index] = new
        # Taken back by the proxy (HAProxy's rise, nginx's fail_timeout) before the next.
        await asyncio.to_thread(new.wait_for_count, SERVED[kind], 10, 30)

    async def scenario(port: int) -> Load:
        load = Load("127.0.0.1", port, clients=20)
        load.start(seconds=90)
        await load.answered(100)
        await restart(0, load)
        await restart(1, load)
        await load.answered_more(200)
        load.stop()
        await load.finished()
        return load

    with running_proxy(proxy, ports) as (port, directory):
        load = asyncio.run(scenario(port))
        proxy_log = proxy_story(directory)
    tokens = list(Write.objects.filter(token__regex=r"^d\d+-").values_list("token", flat=True))
    summary = summarize(load, tokens)
    print(f"{kind} behind {proxy}{' (preStop)' if prestop else ''}: {summary.row()}")
    assert summary.clean and not summary.doubled_writes, (summary.problems, proxy_log)
