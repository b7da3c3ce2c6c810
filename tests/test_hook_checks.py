"""One test per system check id of the hooks and background task settings (E020-E035, W020)."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from graceful_django import hooks
from graceful_django.hooks import checks as hook_checks

H = "tests.testapp.hooks"


def ids(messages) -> list[str]:
    return [message.id for message in messages]


def hook_ids() -> list[str]:
    return ids(hook_checks.check_hooks())


@override_settings(
    GRACEFUL_HOOKS=[
        f"{H}.p100",
        f"{H}.ZeroFirst",
        f"{H}.zero_second",
        {"hook": f"{H}.p50", "priority": 50, "timeout": 2.5, "name": "p50"},
    ],
    GRACEFUL_DEREGISTER_URLS=["http://127.0.0.1:8500/deregister"],
    GRACEFUL_SAVE_STATE=f"{H}.save_state",
)
def test_good_settings_pass_every_check():
    call_command("check", fail_level="WARNING")


@override_settings(GRACEFUL_HOOKS=f"{H}.p100")
def test_e020_hooks_not_a_list():
    assert hook_ids() == ["graceful_django.E020"]


@override_settings(GRACEFUL_HOOKS=[42])
def test_e021_entry_neither_path_nor_dict():
    assert hook_ids() == ["graceful_django.E021"]


@override_settings(GRACEFUL_HOOKS=[f"{H}.no_such_hook", "no_such_module.hook"])
def test_e022_path_does_not_import():
    messages = hook_checks.check_hooks()
    assert ids(messages) == ["graceful_django.E022"] * 2
    assert "no_such_hook" in messages[0].msg


@override_settings(GRACEFUL_HOOKS=[f"{H}.not_callable"])
def test_e023_not_callable():
    assert hook_ids() == ["graceful_django.E023"]


@override_settings(GRACEFUL_HOOKS=[{"hook": f"{H}.p100", "priority": "high"}])
def test_e024_priority_not_an_int():
    assert hook_ids() == ["graceful_django.E024"]


@override_settings(
    GRACEFUL_HOOKS=[
        {"hook": f"{H}.p100", "timeout": -1},
        {"hook": f"{H}.p50", "timeout": "3"},
    ]
)
def test_e025_negative_or_non_numeric_timeout():
    assert hook_ids() == ["graceful_django.E025"] * 2


@override_settings(
    GRACEFUL_HOOKS=[
        {"hook": f"{H}.p100", "name": "flush"},
        {"hook": f"{H}.p50", "name": "flush"},
    ]
)
def test_e026_two_hooks_with_one_name():
    messages = hook_checks.check_hooks()
    assert ids(messages) == ["graceful_django.E026"]
    assert "'flush'" in messages[0].msg


@override_settings(GRACEFUL_HOOKS=[f"{H}.p100"])
def test_e026_decorated_hook_clashing_with_a_configured_one():
    hooks.shutdown_hook(name=f"{H}.p100")(lambda: None)
    try:
        assert hook_ids() == ["graceful_django.E026"]
    finally:
        hooks.unregister(f"{H}.p100")


@override_settings(GRACEFUL_HOOKS=[{"hook": f"{H}.p100", "priorty": 5}])
def test_e027_unknown_key():
    messages = hook_checks.check_hooks()
    assert ids(messages) == ["graceful_django.E027"]
    assert "priorty" in messages[0].msg


@override_settings(GRACEFUL_HOOKS=[{"priority": 5}])
def test_e028_dict_without_hook():
    assert hook_ids() == ["graceful_django.E028"]


@override_settings(GRACEFUL_HOOKS=[{"hook": f"{H}.p100", "name": ""}])
def test_e029_empty_name():
    assert hook_ids() == ["graceful_django.E029"]


@override_settings(GRACEFUL_HOOK_TIMEOUT=0)
def test_e030_hook_timeout():
    assert ids(hook_checks.check_timeouts()) == ["graceful_django.E030"]


@override_settings(GRACEFUL_TASK_TIMEOUT="5")
def test_e031_task_timeout():
    assert ids(hook_checks.check_timeouts()) == ["graceful_django.E031"]


@pytest.mark.parametrize("urls", ["http://consul/deregister", ["consul:8500/deregister"], [None]])
def test_e032_deregister_urls(urls):
    with override_settings(GRACEFUL_DEREGISTER_URLS=urls):
        assert ids(hook_checks.check_deregister_urls()) == ["graceful_django.E032"]


@override_settings(GRACEFUL_DEREGISTER_TIMEOUT=-2)
def test_e033_deregister_timeout():
    assert ids(hook_checks.check_timeouts()) == ["graceful_django.E033"]


@override_settings(GRACEFUL_SAVE_STATE="tests.testapp.hooks.no_such_function")
def test_e034_save_state_does_not_import():
    assert ids(hook_checks.check_save_state()) == ["graceful_django.E034"]


@override_settings(GRACEFUL_SAVE_STATE=f"{H}.not_callable")
def test_e035_save_state_not_callable():
    assert ids(hook_checks.check_save_state()) == ["graceful_django.E035"]


@override_settings(GRACEFUL_TIMEOUT=10, GRACEFUL_HOOKS=[{"hook": f"{H}.p100", "timeout": 10}])
def test_w020_hook_timeout_not_below_the_whole_deadline():
    assert hook_ids() == ["graceful_django.W020"]


@override_settings(
    GRACEFUL_HOOKS=[
        f"{H}.no_such_hook",
        f"{H}.not_callable",
        {"hook": f"{H}.p100", "priority": 1.5},
        {"hook": f"{H}.p50", "timeout": -1},
        {"hook": f"{H}.minus100", "name": "x"},
        {"hook": f"{H}.boom", "name": "x"},
    ]
)
def test_manage_py_check_reports_every_bad_hook_entry_with_its_id():
    with pytest.raises(SystemCheckError) as raised:
        call_command("check")
    report = str(raised.value)
    for id in ("E022", "E023", "E024", "E025", "E026"):
        assert f"graceful_django.{id}" in report


@override_settings(GRACEFUL_TIMEOUT=3)
def test_w020_default_hook_timeout_not_below_the_whole_deadline():
    # GRACEFUL_HOOK_TIMEOUT defaults to 5 s: a hung hook would end the process at the deadline.
    messages = hook_checks.check_hooks()
    assert ids(messages) == ["graceful_django.W020"]
    assert "GRACEFUL_HOOK_TIMEOUT" in messages[0].msg
