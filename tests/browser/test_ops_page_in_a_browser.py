"""The Analytics Ops page in a real headless browser, against a real `make up`.

`make up` runs here as a person runs it (the make target, not a copy of what it does), with its own
AIRFLOW_HOME and port, and its connections pointed at a database of its own on the local stack
(`aops_browser`, demo data loaded by `make up` itself). One suite DAG is triggered through that
Airflow and runs on its scheduler; then Chromium logs in on Airflow's login page, opens the page
from the UI's navigation, and the values it shows are checked against the database. `make down`
must then stop that Airflow and leave the local stack running.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scripts import ops_page_browser as browser
from tests.conftest import PG_PORT, REPLICA_PORT, admin_connect, bootstrap_database, pg_conn_json, superuser_connect

ROOT = Path(__file__).resolve().parents[2]
DB = "aops_browser"
TRIGGERED = "analytics_mv_refresh_frequent"  # small, and it leaves a view refresh in ops.run_log
RUN_TIMEOUT = 240

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        browser.chromium_path() is None,
        reason="Debian's chromium is not installed and could not be (make test installs it when run as root: "
        "apt-get install -y chromium)",
    ),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MadeUp:
    def __init__(self, home: Path, env: dict[str, str]) -> None:
        self.home, self.env = home, env

    def make(self, target: str, timeout: float = 600) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["make", "--no-print-directory", target],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def airflow(self, *args: str) -> str:
        done = subprocess.run(
            [str(ROOT / "scripts" / "with-env"), "airflow", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return done.stdout

    @property
    def base_url(self) -> str:
        return f"http://localhost:{(self.home / 'standalone.port').read_text().strip()}"

    def login(self) -> tuple[str, str]:
        passwords = json.loads((self.home / "simple_auth_manager_passwords.json.generated").read_text())
        return next(iter(passwords.items()))

    def pid(self) -> int:
        return int((self.home / "standalone.pid").read_text())


@pytest.fixture(scope="module")
def made_up(tmp_path_factory) -> Iterator[MadeUp]:
    with superuser_connect() as conn:  # whoever owned it before
        conn.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
    bootstrap_database(DB)  # as the deployment's: owned by the suite's role, with its extensions
    home = tmp_path_factory.mktemp("make-up")
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AOPS_AIRFLOW_PORT": str(_free_port()),
        "AIRFLOW_CONN_ANALYTICS_DB": pg_conn_json(PG_PORT, DB),
        "AIRFLOW_CONN_ANALYTICS_DB_REPLICA": pg_conn_json(REPLICA_PORT, DB),
    }
    # What the test session set for in-process runs; `make up` sets up its own.
    for name in ("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", "AIRFLOW__CORE__UNIT_TEST_MODE", "MAKEFLAGS"):
        env.pop(name, None)
    up = MadeUp(home, env)
    started = up.make("up")
    try:
        assert started.returncode == 0, f"make up failed:\n{started.stdout[-3000:]}\n{started.stderr[-3000:]}"
        up.started_output = started.stdout + started.stderr
        yield up
    finally:
        up.stopped = up.make("down", timeout=120)
        with admin_connect() as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")


@pytest.fixture(scope="module")
def triggered_run(made_up: MadeUp) -> str:
    """One run of a suite DAG on the scheduler `make up` started, finished."""
    deadline = time.monotonic() + RUN_TIMEOUT
    while True:  # the DAG processor may not have parsed the DAG yet
        try:
            made_up.airflow("dags", "unpause", TRIGGERED)
            break
        except subprocess.CalledProcessError:
            if time.monotonic() > deadline:
                raise
            time.sleep(3)
    run_id = json.loads(made_up.airflow("dags", "trigger", TRIGGERED, "--output", "json").strip().splitlines()[-1])[0][
        "dag_run_id"
    ]
    state = None
    while time.monotonic() < deadline:
        runs = made_up.airflow("dags", "list-runs", TRIGGERED, "--output", "json").strip().splitlines()[-1]
        state = {r["run_id"]: r["state"] for r in json.loads(runs)}.get(run_id)
        if state in ("success", "failed"):
            break
        time.sleep(3)
    assert state == "success", f"{TRIGGERED} run {run_id} ended {state!r}; see {made_up.home}/standalone.log"
    # Unpaused, the DAG also runs on its 15-minute schedule: paused again, and every run it started
    # finished, the page's "latest run" is settled (a run ticking at :00 showed as running once).
    made_up.airflow("dags", "pause", TRIGGERED)
    while time.monotonic() < deadline:
        runs = json.loads(made_up.airflow("dags", "list-runs", TRIGGERED, "--output", "json").strip().splitlines()[-1])
        if all(r["state"] in ("success", "failed") for r in runs):
            break
        time.sleep(3)
    else:
        raise AssertionError(f"runs of {TRIGGERED} still unfinished after {RUN_TIMEOUT}s: {runs}")
    assert all(r["state"] == "success" for r in runs), runs
    return run_id


def _db() -> Any:
    return admin_connect(DB)


def test_make_up_printed_the_ui_and_a_login(made_up: MadeUp) -> None:
    user, password = made_up.login()
    assert f"{made_up.base_url}/" in made_up.started_output
    assert f"login:          {user} / {password}" in made_up.started_output


def test_the_page_needs_a_login(made_up: MadeUp) -> None:
    import urllib.error
    import urllib.request

    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{made_up.base_url}/analytics-ops/api/overview", timeout=30)
    assert refused.value.code == 401


def test_the_page_shows_the_stacks_real_values_and_links_to_the_runs(
    made_up: MadeUp, triggered_run: str, tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    with _db() as conn:
        live_rows = conn.execute("SELECT count(*) FROM daily_analytics").fetchone()[0]
        (backups, health) = conn.execute(
            "SELECT to_regclass('ops.backups') IS NOT NULL, to_regclass('ops.health_check_results') IS NOT NULL"
        ).fetchone()
        if backups:  # the backup DAGs' table is there: a verified backup must show
            conn.execute(
                "INSERT INTO ops.backups (backup_id, kind, location, started_at, finished_at, size_bytes, "
                "verified_at, dag_id, run_id) VALUES ('browser-test-backup', 'full', 'file:///tmp/b', "
                "now() - interval '3 hours', now() - interval '2 hours', 1024, now() - interval '1 hour', "
                "'analytics_backup_full', 'manual__browser')"
            )
        if health:
            conn.execute(
                "INSERT INTO ops.health_check_results (dag_id, run_id, checked_at, check_name, status, value, "
                "threshold, detail) VALUES ('analytics_health_check', 'manual__browser', now(), 'browser_probe', "
                "'warn', '42 things', '< 10', 'seeded by the browser test')"
            )
    assert live_rows > 0, "make up loads the demo data"
    suite_dags = sorted(p.stem for p in (ROOT / "dags").glob("analytics_*.py"))
    user, password = made_up.login()

    with sync_playwright() as playwright:
        chromium = browser.launch(playwright)
        try:
            page = chromium.new_page(viewport={"width": 1400, "height": 1000})
            browser.log_in(page, made_up.base_url, user, password, then="/")
            # The nav entry the plugin adds (Browse > Analytics Ops) leads to the page.
            page.get_by_role("button", name="Browse").click()
            page.get_by_role("menuitem", name="Analytics Ops").click()
            page.wait_for_url("**/plugin/analytics-ops**")
            frame = browser.ops_frame(page)

            # Every suite DAG, from the tag, with the triggered run's state and a link to it.
            for dag_id in suite_dags:
                expect(frame.locator(f"tr[data-dag-id='{dag_id}']")).to_have_count(1)
            row = frame.locator(f"tr[data-dag-id='{TRIGGERED}']")
            expect(row.locator("td.state")).to_have_text("success")
            # Linked to the newest run: the triggered one, or a scheduled one that started after it.
            runs = json.loads(
                made_up.airflow("dags", "list-runs", TRIGGERED, "--output", "json").strip().splitlines()[-1]
            )
            link = row.locator("a[href*='/runs/']")
            linked = link.get_attribute("href").replace("%3A", ":").replace("%2B", "+")
            assert linked in {f"/dags/{TRIGGERED}/runs/{r['run_id']}" for r in runs}, (linked, runs)
            assert triggered_run in {r["run_id"] for r in runs}

            # The view the DAG refreshed, linked to the newest run that refreshed it (unpausing the DAG
            # also started a scheduled run: either may have finished last); views never refreshed say so.
            with _db() as conn:
                (refresh_run,) = conn.execute(
                    "SELECT run_id FROM ops.run_log WHERE task_id = 'refresh_view' "
                    "AND subject = 'public.mv_txn_daily_agg' ORDER BY finished_at DESC LIMIT 1"
                ).fetchone()
            view_row = frame.locator("tr[data-view='mv_txn_daily_agg']")
            expect(view_row.get_by_role("link", name=refresh_run)).to_have_count(1)
            expect(frame.locator("tr[data-view='user_task_stats'] td.state")).to_have_text("never")

            # Archival counts are the table's.
            expect(frame.get_by_test_id("live-rows")).to_have_text(f"{live_rows:,}")
            # Replica lag measured on the real replica.
            expect(frame.locator("tr[data-replica='analytics_db_replica'] td.lag-seconds")).to_have_text(
                re.compile(r"^\d+\.\d s$")
            )
            # Backups and health checks: real rows when their tables exist, "not set up" when not.
            if backups:
                expect(frame.locator("section[data-section=backups]")).to_contain_text("browser-test-backup")
            else:
                expect(frame.locator("section[data-section=backups] .badge")).to_have_text("not set up")
            if health:
                expect(frame.locator("tr[data-check='browser_probe'] td.state")).to_have_text("warn")
            else:
                expect(frame.locator("section[data-section=health_checks] .badge")).to_have_text("not set up")

            shot = browser.screenshot(page, Path(os.environ.get("AOPS_OPS_PAGE_SCREENSHOT", tmp_path / "ops.png")))
            assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000

            # The run link opens the run's page in the UI itself, not inside the frame.
            link.click()
            page.wait_for_url(f"**/dags/{TRIGGERED}/runs/**")
            expect(page.get_by_text(triggered_run).first).to_be_visible()
        finally:
            chromium.close()


def test_make_down_stops_what_make_up_started_and_nothing_else(made_up: MadeUp) -> None:
    pid = made_up.pid()
    stopped = made_up.make("down", timeout=120)
    assert stopped.returncode == 0, stopped.stderr
    assert not Path(f"/proc/{pid}").exists(), "airflow standalone still running after make down"
    assert not (made_up.home / "standalone.pid").exists()
    # The local stack was running before this `make up`, so `make down` leaves it running (the
    # CeleryExecutor's two servers, which an earlier e2e session may have left stopped, are not its).
    status = subprocess.run(
        [str(ROOT / "scripts" / "stack.sh"), "status"], capture_output=True, text=True, check=True
    ).stdout
    assert re.findall(r"^(primary|replica|redis|slack): running$", status, re.M) == [
        "primary",
        "replica",
        "redis",
        "slack",
    ], status
    with admin_connect(DB) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
