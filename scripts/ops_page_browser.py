"""Open the Analytics Ops page of a running Airflow in headless Chromium, as a person would: log in
on Airflow's login page, open the page from its URL in the UI, and take a screenshot.

    scripts/with-env python scripts/ops_page_browser.py [--out docs/img/ops-page.png]

reads the port and the generated login of the Airflow that `make up` started (under $AIRFLOW_HOME).
Uses Debian's chromium (`apt-get install chromium`) through Playwright; no browser download.
The browser test (tests/browser) drives the same functions.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

OPS_ROUTE = "/plugin/analytics-ops"
CHROMIUM_NAMES = ("chromium", "chromium-browser")


def chromium_path() -> str | None:
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def launch(playwright: Any) -> Any:
    executable = chromium_path()
    if executable is None:
        raise RuntimeError("chromium is not installed: apt-get install -y chromium")
    # --no-sandbox: Chromium refuses to sandbox as root (CI and this machine run as root).
    return playwright.chromium.launch(executable_path=executable, headless=True, args=["--no-sandbox"])


def log_in(page: Any, base_url: str, username: str, password: str, then: str = OPS_ROUTE) -> None:
    """Airflow's own login page (simple auth manager), then on to `then`."""
    page.goto(f"{base_url}{then}")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"**{then}**")


def ops_frame(page: Any) -> Any:
    """The page's frame inside the UI, once its suite-DAG table is there."""
    frame = page.frame_locator("iframe")
    frame.locator("section[data-section=dags]").wait_for()
    return frame


def screenshot(page: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    return path


def running_instance(airflow_home: Path) -> tuple[str, str, str]:
    """Base URL, user and password of the Airflow `make up` started under `airflow_home`."""
    port_file = airflow_home / "standalone.port"
    if not port_file.exists():
        raise SystemExit(f"no Airflow started by `make up` under {airflow_home}: run `make up` first")
    passwords = json.loads((airflow_home / "simple_auth_manager_passwords.json.generated").read_text())
    user, password = next(iter(passwords.items()))
    return f"http://localhost:{port_file.read_text().strip()}", user, password


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("docs/img/ops-page.png"))
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=1450)
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    base_url, user, password = running_instance(Path(os.environ["AIRFLOW_HOME"]))
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = browser.new_page(viewport={"width": args.width, "height": args.height})
            log_in(page, base_url, user, password)
            ops_frame(page)
            print(f"screenshot of {base_url}{OPS_ROUTE}: {screenshot(page, args.out)}")
        finally:
            browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
