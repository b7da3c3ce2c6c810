"""One test per system check id of the operations settings (E040-E048, W040-W041)."""

from __future__ import annotations

from django.core import checks
from django.test import override_settings

from graceful_django.conf import conf
from graceful_django.operations.checks import (
    check_drain_mode,
    check_fleet_group,
    check_health_paths,
    check_pre_drain_delay,
    check_runtime_dir,
    check_serve_cutoff,
)


def _ids(messages: list[checks.CheckMessage]) -> list[str | None]:
    return [message.id for message in messages]


def test_defaults_pass():
    assert check_pre_drain_delay() + check_health_paths() + check_runtime_dir() == []
    assert check_fleet_group() + check_drain_mode() + check_serve_cutoff() == []


def test_e046_unknown_drain_mode():
    for value in ("Serve", "503", None, True):
        with override_settings(GRACEFUL_DRAIN_MODE=value):
            [error] = check_drain_mode()
            assert error.id == "graceful_django.E046", value
            assert "must be 'serve' or 'refuse'" in error.msg
    with override_settings(GRACEFUL_DRAIN_MODE="refuse"):
        assert check_drain_mode() == []


def test_e047_negative_or_non_numeric_cutoff():
    for value in (-1, "5", None, True, float("nan")):
        with override_settings(GRACEFUL_SERVE_CUTOFF=value):
            assert _ids(check_serve_cutoff()) == ["graceful_django.E047"], value


@override_settings(GRACEFUL_TIMEOUT=10, GRACEFUL_PRE_DRAIN_DELAY=6, GRACEFUL_SERVE_CUTOFF=4)
def test_e048_cutoff_and_delay_leave_no_time_to_serve():
    [error] = check_serve_cutoff()
    assert error.id == "graceful_django.E048"
    assert "leave nothing of GRACEFUL_TIMEOUT (10s)" in error.msg
    with override_settings(GRACEFUL_SERVE_CUTOFF=3.5):
        assert check_serve_cutoff() == []


def test_the_default_cutoff_is_a_quarter_of_what_the_delay_leaves_at_most_5s():
    assert conf.GRACEFUL_SERVE_CUTOFF == 5.0  # GRACEFUL_TIMEOUT 30
    with override_settings(GRACEFUL_TIMEOUT=8, GRACEFUL_PRE_DRAIN_DELAY=2):
        assert conf.GRACEFUL_SERVE_CUTOFF == 1.5
        assert check_serve_cutoff() == []


def test_e040_negative_or_non_numeric_delay():
    for value in (-1, "5", None, True, float("nan")):
        with override_settings(GRACEFUL_PRE_DRAIN_DELAY=value):
            assert _ids(check_pre_drain_delay()) == ["graceful_django.E040"], value


@override_settings(GRACEFUL_TIMEOUT=10, GRACEFUL_PRE_DRAIN_DELAY=10)
def test_e041_delay_not_shorter_than_timeout():
    [error] = check_pre_drain_delay()
    assert error.id == "graceful_django.E041"
    assert "the deadline passes before the drain starts" in error.msg


@override_settings(GRACEFUL_TIMEOUT=10, GRACEFUL_PRE_DRAIN_DELAY=6)
def test_w040_delay_takes_more_than_half_of_timeout():
    [warning] = check_pre_drain_delay()
    assert warning.id == "graceful_django.W040" and warning.level == checks.WARNING
    assert "leaving 4s for in-flight work" in warning.msg
    with override_settings(GRACEFUL_PRE_DRAIN_DELAY=5):
        assert check_pre_drain_delay() == []  # exactly half is fine


def test_e042_health_paths_not_absolute_paths():
    for value in ("/healthz/ready", ["healthz/ready"], [1]):
        with override_settings(GRACEFUL_HEALTH_PATHS=value):
            assert _ids(check_health_paths()) == ["graceful_django.E042"], value


@override_settings(GRACEFUL_HEALTH_PATHS=["/healthz/live"])
def test_w041_health_endpoint_mounted_where_the_setting_does_not_look():
    [warning] = check_health_paths()
    assert warning.id == "graceful_django.W041"
    assert "/healthz/ready" in warning.msg


def test_e043_runtime_dir_not_absolute():
    for value in ("run/graceful", 5):
        with override_settings(GRACEFUL_RUNTIME_DIR=value):
            assert _ids(check_runtime_dir()) == ["graceful_django.E043"], value


def test_e044_fleet_group_not_a_group_name():
    for value in ("has space", "x" * 100, 7):
        with override_settings(GRACEFUL_FLEET_GROUP=value):
            assert _ids(check_fleet_group()) == ["graceful_django.E044"], value
