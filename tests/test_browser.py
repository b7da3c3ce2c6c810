"""Issue 10: a real browser sees the configured close code, the reason and `wasClean == true`.

Headless Chromium (Debian's chromium + chromium-driver, driven by selenium) loads a page
whose script opens a websocket; SIGTERM; the page's CloseEvent is read back. `wasClean`
is true only if the closing handshake completed and TCP then ended without an error.
"""

from __future__ import annotations

import shutil
import signal
import tempfile
from collections.abc import Iterator

import pytest

from graceful_django.conf import DEFAULT_WS_CLOSE_CODE, DEFAULT_WS_CLOSE_REASON

CHROMIUM = shutil.which("chromium")
CHROMEDRIVER = shutil.which("chromedriver")
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)",
)

WAIT_OPEN = """
const done = arguments[arguments.length - 1];
if (window.opened) { done(true); } else { ws.addEventListener("open", () => done(true)); }
"""
WAIT_CLOSE = """
const done = arguments[arguments.length - 1];
if (window.closeEvent) { done(window.closeEvent); }
else { ws.addEventListener("close", () => done(window.closeEvent)); }
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    profile = tempfile.mkdtemp(prefix="gd-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(CHROMEDRIVER))
    driver.set_script_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.mark.parametrize("kind", ["daphne", "uvicorn"])
def test_browser_sees_a_clean_close(server_factory, browser, kind):
    server = server_factory(kind, app="tests.asgi:application")
    browser.get(f"{server.base_url}/test/ws-page")
    assert browser.execute_async_script(WAIT_OPEN)
    server.send(signal.SIGTERM)
    event = browser.execute_async_script(WAIT_CLOSE)
    assert server.wait_exit(20) == 0, server.output
    assert event == {
        "code": DEFAULT_WS_CLOSE_CODE,
        "reason": DEFAULT_WS_CLOSE_REASON,
        "wasClean": True,
    }, server.output
