"""Screenshots of the factor browser, taken the way the Selenium test drives it.

Opens ``DIR/index.html`` (default: the quick reproduction's browser) in Debian's headless
Chromium, types a query in the search box, saves the list, then opens the first match and
saves its factor page. Run after
``reprlab reproduce transformer_factors --quick --out reprlab-out``:

    python benchmarks/factors_browser_screenshot.py reprlab-out/factors/browser --query court
"""

from __future__ import annotations

import argparse
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("dir", nargs="?", default="reprlab-out/factors/browser")
    ap.add_argument("--query", default="court")
    ap.add_argument("--out", default="docs")
    args = ap.parse_args()
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1100,1000"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    out = Path(args.out)
    try:
        driver.get((Path(args.dir) / "index.html").resolve().as_uri())
        driver.find_element(By.ID, "search").send_keys(args.query)
        driver.save_screenshot(str(out / "factors_browser_index.png"))
        shown = [r for r in driver.find_elements(By.CSS_SELECTOR, "#factor-list li")
                 if r.is_displayed()]
        print(f"{len(shown)} factors match {args.query!r}")
        shown[0].find_element(By.TAG_NAME, "a").click()
        driver.save_screenshot(str(out / "factors_browser_factor.png"))
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        print("console errors:", errors or "none")
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
