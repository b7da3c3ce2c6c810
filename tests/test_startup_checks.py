"""Issue 12: every setting checked as the server arms; a bad one falls back to its default."""

from __future__ import annotations

import logging
import signal
from collections.abc import Iterator

import pytest
from django.core import checks as django_checks
from django.test import override_settings

from graceful_django import checks, startup_checks
from graceful_django.conf import conf
from graceful_django.hooks import checks as hook_checks
from graceful_django.operations import checks as operations_checks
from tests.operations import start_slow_requests
from tests.test_checks import ids

NAN, INF = float("nan"), float("inf")


@pytest.fixture(autouse=True)
def clear_defaults() -> Iterator[None]:
    yield
    conf.clear_defaults()


@pytest.mark.parametrize("value", [NAN, INF, -INF])
def test_nan_and_inf_are_rejected_everywhere(value):
    with override_settings(
        GRACEFUL_TIMEOUT=value,
        GRACEFUL_PRE_DRAIN_DELAY=value,
        GRACEFUL_WS_CLOSE_TIMEOUT=value,
        GRACEFUL_HOOK_TIMEOUT=value,
        GRACEFUL_PUSHGATEWAY_TIMEOUT=value,
        GRACEFUL_HOOKS=[{"hook": "tests.testapp.hooks.p100", "timeout": value}],
    ):
        found = set(ids(django_checks.run_checks(tags=[checks.TAG])))
    assert {
        "graceful_django.E001",
        "graceful_django.E005",
        "graceful_django.E012",
        "graceful_django.E025",
        "graceful_django.E030",
        "graceful_django.E040",
    } <= found


@override_settings(GRACEFUL_TIMOUT=20, GRACEFUL_SOMETHING_ELSE=1)
def test_w003_an_unknown_setting_names_the_closest_known_one():
    messages = checks.check_unknown_settings()
    assert ids(messages) == ["graceful_django.W003", "graceful_django.W003"]
    assert "GRACEFUL_SOMETHING_ELSE is not a graceful_django setting" in messages[0].msg
    assert messages[1].hint == "Did you mean GRACEFUL_TIMEOUT?"


@pytest.mark.parametrize(
    ("gateway", "timeout", "expected"),
    [
        ("http://127.0.0.1:9091", 2, []),
        ("pushgateway:9091", 2, []),
        ("ftp://x", 2, ["graceful_django.E004"]),
        (9091, 2, ["graceful_django.E004"]),
        (None, 0, ["graceful_django.E005"]),
    ],
)
def test_e004_e005_pushgateway(gateway, timeout, expected):
    with override_settings(GRACEFUL_PUSHGATEWAY=gateway, GRACEFUL_PUSHGATEWAY_TIMEOUT=timeout):
        assert ids(checks.check_pushgateway()) == expected


def test_the_metrics_path_defaults_to_django_prometheus_view():
    assert conf.GRACEFUL_METRICS_PATH == "/metrics"
    assert operations_checks.check_metrics_path() == []


@override_settings(GRACEFUL_METRICS_PATH="metrics")
def test_e045_metrics_path_not_absolute():
    assert ids(operations_checks.check_metrics_path()) == ["graceful_django.E045"]


@override_settings(GRACEFUL_METRICS_PATH="/prometheus")
def test_w042_metrics_view_mounted_elsewhere():
    messages = operations_checks.check_metrics_path()
    assert ids(messages) == ["graceful_django.W042"]
    assert messages[0].hint == "Set GRACEFUL_METRICS_PATH = '/metrics'."


@override_settings(GRACEFUL_HOOKS=[{"hook": "tests.testapp.hooks.p100", "phase": "later"}])
def test_e036_bad_hook_phase():
    messages = hook_checks.check_hooks()
    assert ids(messages) == ["graceful_django.E036"]
    assert "'before_drain', 'after_drain'" in messages[0].msg


@override_settings(GRACEFUL_TIMEOUT=NAN, GRACEFUL_PRE_DRAIN_DELAY=40, GRACEFUL_RETRY_AFTER=5)
def test_failed_settings_fall_back_to_their_defaults_until_none_fails(caplog):
    with caplog.at_level(logging.WARNING, logger="graceful_django"):
        startup_checks.check_settings()
    # nan hid the second error: with the default timeout, a 40 s delay leaves nothing.
    assert conf.defaulted == {"GRACEFUL_TIMEOUT", "GRACEFUL_PRE_DRAIN_DELAY"}
    assert conf.GRACEFUL_TIMEOUT == 30.0
    assert conf.GRACEFUL_PRE_DRAIN_DELAY == 0.0
    assert conf.GRACEFUL_RETRY_AFTER == 5
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors == [
        "graceful_django.E001: GRACEFUL_TIMEOUT must be a positive number of seconds, not nan. "
        "This process uses the default, GRACEFUL_TIMEOUT = 30.0.",
        "graceful_django.E041: GRACEFUL_PRE_DRAIN_DELAY (40s) is not shorter than "
        "GRACEFUL_TIMEOUT (30s): the deadline passes before the drain starts. "
        "This process uses the default, GRACEFUL_PRE_DRAIN_DELAY = 0.0.",
    ]


@override_settings(MIDDLEWARE=[], GRACEFUL_TIMOUT=3)
def test_errors_without_a_setting_and_warnings_are_logged_only(caplog):
    with caplog.at_level(logging.WARNING, logger="graceful_django"):
        startup_checks.check_settings()
    assert conf.defaulted == frozenset()
    text = caplog.text
    assert "graceful_django.E003" in text and "graceful_django.W003" in text
    assert "Did you mean GRACEFUL_TIMEOUT?" in text


def test_nan_timeout_under_daphne_drops_no_request(server_factory):
    # project/settings.py: float(os.environ["GRACEFUL_TIMEOUT"]), as a deploy would write it.
    server = server_factory("daphne", env={"GRACEFUL_TIMEOUT": "nan"})
    urls = [f"{server.base_url}/slow/async?seconds=2&token=nan-{i}" for i in range(20)]
    threads, results = start_slow_requests(urls)
    server.wait_for_count(r"wrote async nan-", 20, timeout=20)
    server.send(signal.SIGTERM)
    for thread in threads:
        thread.join()
    assert server.wait_exit(30) == 0, server.output
    assert results == [200] * 20, server.output
    assert "graceful_django.E001: GRACEFUL_TIMEOUT must be a positive number" in server.output
    assert "This process uses the default, GRACEFUL_TIMEOUT = 30.0." in server.output


def test_every_error_of_a_setting_falls_back_at_arm():
    """A new check id must say which setting it falls back (or be one that cannot)."""
    import re
    from pathlib import Path

    from graceful_django import startup_checks

    package = Path(startup_checks.__file__).parent
    ids = {
        found
        for path in package.rglob("*.py")
        for found in re.findall(r"graceful_django\.E\d{3}", path.read_text())
    }
    # The middleware (nothing to fall back to) and single GRACEFUL_HOOKS entries, which the
    # hook loader skips by itself, named in the log.
    entries = {f"graceful_django.E{n:03d}" for n in (*range(21, 30), 36)}
    not_a_setting = {"graceful_django.E003", *entries}
    assert ids - not_a_setting == set(startup_checks.SETTING_OF), ids
