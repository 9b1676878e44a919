"""Helpers for the dashboard's browser tests: headless Chromium through selenium, a dashboard
server in a subprocess, and screenshots for docs/dashboard.md.

Screenshots are written only when ``EXPERIMENTKIT_SCREENSHOTS`` names a directory
(``EXPERIMENTKIT_SCREENSHOTS=docs/images pytest -m browser tests/test_dashboard_browser.py``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("EXPERIMENTKIT_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("EXPERIMENTKIT_CHROMEDRIVER", "/usr/bin/chromedriver")


def need_browser() -> Any:
    """The selenium ``webdriver`` module, or skip with the reason."""
    webdriver = pytest.importorskip(
        "selenium.webdriver", reason="selenium is not installed (pip install selenium)"
    )
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not (os.path.exists(path) or shutil.which(path)):
            pytest.skip(f"no browser: {path} is missing (apt-get install -y {package})")
    return webdriver


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium that records its console."""
    webdriver = need_browser()
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for arg in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--window-size=1280,1000",
        "--disable-dev-shm-usage",
    ):
        options.add_argument(arg)
    options.binary_location = CHROMIUM
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def console_errors(driver: Any) -> list:
    """Console messages at error level since the last call."""
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


@contextmanager
def dashboard(store: Path, *args: str) -> Iterator[str]:
    """``experimentkit serve`` on a free loopback port; yields its URL (without the slash)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "experimentkit", "-S", str(store), "serve", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        line = proc.stdout.readline()
        match = re.search(r"(http://\S+?)/(\s|$)", line)
        assert match, f"the dashboard did not start: {line!r}"
        yield match.group(1)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        proc.stdout.close()


def screenshot(driver: Any, name: str) -> None:
    """Save the page as ``<EXPERIMENTKIT_SCREENSHOTS>/dashboard-<name>.png`` when asked to."""
    target = os.environ.get("EXPERIMENTKIT_SCREENSHOTS")
    if not target:
        return
    Path(target).mkdir(parents=True, exist_ok=True)
    height = driver.execute_script("return document.body.scrollHeight")
    driver.set_window_size(1280, min(max(int(height) + 40, 600), 2400))
    driver.save_screenshot(str(Path(target) / f"dashboard-{name}.png"))
    driver.set_window_size(1280, 1000)
