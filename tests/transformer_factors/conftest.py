"""Headless Debian Chromium driven by Selenium, for the factor-browser tests."""

from __future__ import annotations

import os
import shutil

import pytest


def chromium_driver():
    """A headless Chrome driver logging the browser console; skips when not installed."""
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    driver_bin = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    if not (os.path.exists(chromium) and os.path.exists(driver_bin)):
        pytest.skip("Debian chromium / chromium-driver not installed")
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1200,900"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(driver_bin), options=opts)


@pytest.fixture
def make_chromium():
    """The :func:`chromium_driver` factory, as a fixture (test modules are not importable
    from each other under pytest's importlib mode)."""
    return chromium_driver
