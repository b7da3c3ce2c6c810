"""Issue 5: `manage.py drain --fleet` over a real Redis channel layer, and its signed messages."""

# The fixtures imported from tests.operations are then parameters of the tests.
# ruff: noqa: F811

from __future__ import annotations

import asyncio
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from channels_redis.core import RedisChannelLayer
from django.test import override_settings

from graceful_django.operations import fleet, signing
from tests.operations import (
    run_drain,
    served_and_closed,
    start_slow_requests,
    status_code,
    wait_status,
)
from tests.redis_service import unreachable

REDIS_URL = "redis://127.0.0.1:6379/9"
LISTENING = "fleet control on channel layer group"

_REDIS_MISSING = unreachable(REDIS_URL)
pytestmark = pytest.mark.skipif(
    _REDIS_MISSING is not None, reason=f"{_REDIS_MISSING}: the fleet's channel layer needs one"
)


@pytest.fixture
def fleet_env(runtime_env):
    # A group of this test's own: other tests' servers on the same Redis never answer.
    return {
        **runtime_env,
        "REDIS_URL": REDIS_URL,
        "GRACEFUL_FLEET_GROUP": f"gd-test-{uuid.uuid4().hex}",
    }


@pytest.fixture
def fleet_server(control_server, fleet_env):
    def start(kind: str = "daphne", env: dict[str, str] | None = None):
        server = control_server(kind, env={**fleet_env, **(env or {})})
        server.wait_for_log(LISTENING)
        return server

    return start


def test_fleet_drains_three_processes_and_reports_each(fleet_server, fleet_env):
    servers = [fleet_server("daphne"), fleet_server("daphne"), fleet_server("uvicorn")]
    threads, results = start_slow_requests(
        [f"{servers[0].base_url}/slow/async?seconds=1.5&token=f"]
    )
    wait_status(fleet_env, servers[0].process.pid, lambda s: s["requests"] >= 1)

    result = run_drain(fleet_env, "--fleet", "--timeout", "10", "--json")
    threads[0].join()
    assert result.returncode == 0, result.stdout + result.stderr
    document = json.loads(result.stdout)
    assert sorted(s["pid"] for s in document["servers"]) == sorted(s.process.pid for s in servers)
    assert all(s["drained"] and not s["ready"] for s in document["servers"])
    assert results == [200]
    for server in servers:
        assert status_code(f"{server.base_url}/healthz/ready") == 503
        assert served_and_closed(f"{server.base_url}/ping")  # drained: served, then closed

    shown = run_drain(fleet_env, "--fleet", "--undrain")
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert shown.stdout.count(": serving, ") == 3 and "3 servers serving again" in shown.stdout
    for server in servers:
        assert status_code(f"{server.base_url}/ping") == 200


def test_forged_stale_and_replayed_messages_change_nothing_and_are_counted(fleet_server, fleet_env):
    server = fleet_server("daphne")
    group = fleet_env["GRACEFUL_FLEET_GROUP"]

    async def exchange() -> dict:
        layer = RedisChannelLayer(hosts=[REDIS_URL])
        reply_to = await layer.new_channel()

        async def ask(message: dict) -> dict:
            await layer.group_send(group, message)
            while True:  # skip progress pushes of earlier requests
                reply = await asyncio.wait_for(layer.receive(reply_to), 10)
                if reply["nonce"] == message["nonce"] and reply["op"] == message["op"]:
                    assert fleet.reply_is_genuine(reply, message["nonce"])
                    return reply

        unsigned = {
            "type": fleet.MESSAGE_TYPE,
            "op": "drain",
            "reply_to": reply_to,
            "follow": 0,
            "ts": time.time(),
            "nonce": uuid.uuid4().hex,
        }
        await layer.group_send(group, unsigned)
        await layer.group_send(group, {**fleet.request("drain", reply_to, 0), "op": "undrain"})
        stale = {**unsigned, "ts": time.time() - 120, "nonce": uuid.uuid4().hex}
        await layer.group_send(group, signing.sign(stale, fleet.REQUEST_PURPOSE))
        # Messages of one channel are handled in order: this answer comes after the three.
        first = await ask(fleet.request("status", reply_to, 0))

        drain = fleet.request("drain", reply_to, 0)
        drained = await ask(drain)
        undrained = await ask(fleet.request("undrain", reply_to, 0))
        await layer.group_send(group, drain)  # replayed verbatim
        last = await ask(fleet.request("status", reply_to, 0))
        return {"first": first, "drained": drained, "undrained": undrained, "last": last}

    replies = asyncio.run(exchange())
    first = replies["first"]["status"]
    assert first["ready"] is True
    assert first["fleet_rejected"] == {"unsigned": 1, "forged": 1, "stale": 1, "replayed": 0}
    assert replies["drained"]["status"]["drained"] is True
    assert replies["undrained"]["status"]["ready"] is True
    last = replies["last"]["status"]
    assert last["ready"] is True  # the replayed drain did nothing
    assert last["fleet_rejected"] == {"unsigned": 1, "forged": 1, "stale": 1, "replayed": 1}
    assert status_code(f"{server.base_url}/ping") == 200
    assert server.output.count("ignored a replayed fleet control message") == 1


def test_fleet_with_nobody_listening_exits_2(fleet_env):
    result = run_drain(fleet_env, "--fleet", "--status", "--window", "0.5")
    assert result.returncode == 2
    assert "no server of this project answered" in result.stderr


OLD_KEY, NEW_KEY = "old-" + "k" * 50, "new-" + "k" * 50


def test_fleet_across_a_key_rotation_reaches_every_process(fleet_server, fleet_env):
    """Half the fleet on the new key (the old one as fallback), half still on the old key."""
    new_side = {"DJANGO_SECRET_KEY": NEW_KEY, "TEST_SECRET_KEY_FALLBACKS": OLD_KEY}
    old_side = {"DJANGO_SECRET_KEY": OLD_KEY}
    with ThreadPoolExecutor(4) as pool:
        servers = list(
            pool.map(lambda env: fleet_server(env=env), [new_side, new_side, old_side, old_side])
        )
    pids = sorted(server.process.pid for server in servers)

    drained = run_drain({**fleet_env, **new_side}, "--fleet", "--timeout", "10", "--json")
    assert drained.returncode == 0, drained.stdout + drained.stderr
    assert sorted(s["pid"] for s in json.loads(drained.stdout)["servers"]) == pids
    undrained = run_drain({**fleet_env, **old_side}, "--fleet", "--undrain", "--json")
    assert undrained.returncode == 0, undrained.stdout + undrained.stderr
    assert sorted(s["pid"] for s in json.loads(undrained.stdout)["servers"]) == pids

    async def forge() -> None:
        layer = RedisChannelLayer(hosts=[REDIS_URL])
        with override_settings(SECRET_KEY="unrelated-" + "k" * 50, SECRET_KEY_FALLBACKS=[]):
            message = fleet.request("drain", await layer.new_channel(), 0)
        await layer.group_send(fleet_env["GRACEFUL_FLEET_GROUP"], message)

    asyncio.run(forge())
    # Sent after the forged message: each process answers it once it has rejected that.
    shown = run_drain({**fleet_env, **new_side}, "--fleet", "--status", "--json")
    assert shown.returncode == 0, shown.stdout + shown.stderr
    statuses = json.loads(shown.stdout)["servers"]
    assert sorted(s["pid"] for s in statuses) == pids
    for status in statuses:
        assert status["ready"] is True  # the forged drain did nothing
        assert status["fleet_rejected"]["forged"] == 1, status
    for server in servers:
        assert status_code(f"{server.base_url}/ping") == 200


def test_default_group_stays_the_same_across_a_key_rotation():
    with override_settings(SECRET_KEY=OLD_KEY, SECRET_KEY_FALLBACKS=[]):
        before = fleet.default_group()
    with override_settings(SECRET_KEY=NEW_KEY, SECRET_KEY_FALLBACKS=[OLD_KEY]):
        assert fleet.default_group() == before
