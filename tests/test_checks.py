"""One test per core system check id."""

from __future__ import annotations

from django.core.management import call_command
from django.test import override_settings

from graceful_django import checks

MIDDLEWARE = checks.MIDDLEWARE_PATH


def ids(messages) -> list[str]:
    return [message.id for message in messages]


def test_demo_settings_pass_every_check():
    call_command("check", fail_level="WARNING")


@override_settings(GRACEFUL_TIMEOUT=-1)
def test_e001_negative_timeout():
    assert ids(checks.check_timeout()) == ["graceful_django.E001"]


@override_settings(GRACEFUL_TIMEOUT="30")
def test_e001_non_numeric_timeout():
    messages = checks.check_timeout()
    assert ids(messages) == ["graceful_django.E001"]
    assert "'30'" in messages[0].msg


@override_settings(GRACEFUL_RETRY_AFTER=2.5)
def test_e002_retry_after_not_whole_seconds():
    assert ids(checks.check_retry_after()) == ["graceful_django.E002"]


@override_settings(MIDDLEWARE=["django.middleware.common.CommonMiddleware"])
def test_e003_middleware_missing():
    assert ids(checks.check_middleware()) == ["graceful_django.E003"]


@override_settings(MIDDLEWARE=["django.middleware.common.CommonMiddleware", MIDDLEWARE])
def test_w001_middleware_not_first():
    assert ids(checks.check_middleware()) == ["graceful_django.W001"]


@override_settings(GRACEFUL_TIMEOUT=0)
def test_manage_py_check_reports_the_id(capsys):
    import pytest
    from django.core.management.base import SystemCheckError

    with pytest.raises(SystemCheckError, match="graceful_django.E001"):
        call_command("check")
