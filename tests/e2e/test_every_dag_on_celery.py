"""Every suite DAG once through the scheduler and two Celery workers (as `make demo` runs them
in-process): each run succeeds, the tasks are spread over both workers, and the view-refresh pool
holds. The deadline and failure alerts of the same deployment: test_alerts_with_a_real_scheduler.py."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import BACKUP_ROOT, REDIS_DB, REDIS_PORT, create_test_database, drop_test_leftovers
from tests.e2e.conftest import SUITE_DAGS, WORKERS

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
RUNS_TIMEOUT = 480
# The restore needs a verified full backup, the point-in-time recovery a verified base backup and
# fetched WAL; the health checks look at what the others did (as in scripts/demo.py, they run last).
NEEDS_BACKUP = ("analytics_restore", "analytics_pitr")
BACKUPS = ("analytics_backup_full", "analytics_backup_incremental")
LAST = ("analytics_health_check", "analytics_weekly_review")
FIRST = tuple(d for d in SUITE_DAGS if d not in NEEDS_BACKUP + LAST)
# Params: each DAG runs with its defaults, as scripts/demo.py runs it, but the transaction backfill
# (which days), the incident export (whose events, when) and the point-in-time recovery, which has
# to be told an instant: the newest one the fetched WAL covers, and no cluster left running on the
# worker.
CONF: dict[str, Any] = {
    # The backfill is told which days (the two newest whole days of the demo's transactions).
    "analytics_txn_backfill": lambda: {
        "from": (datetime.now(UTC).date() - timedelta(days=2)).isoformat(),
        "to": (datetime.now(UTC).date() - timedelta(days=1)).isoformat(),
    },
    # The incident export is told whose events and when (the demo's error spike: the last hour).
    "analytics_incident_export": lambda: {
        "org_id": "org-demo-2",
        "model_id": "gpt-small",
        "start": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
        "end": datetime.now(UTC).isoformat(),
    },
    "analytics_pitr": lambda: {
        "target_time": json.loads((BACKUP_ROOT / "wal" / "covered_until.json").read_text())["covers_until"],
        "keep_running": False,
    },
}


@pytest.fixture
def demo_data(test_database):
    """Demo data at a small scale in the tests' database (800 days: archival has work too); afterwards
    the database, the backups, the WAL slot and the cache as the session found them, for the tests
    that follow."""
    subprocess.run(
        [sys.executable, "-m", "analytics_ops.cli", "load-demo", "--users", "100", "--tasks-per-day", "20", "--force"],
        check=True,
        capture_output=True,
        timeout=300,
    )
    yield
    import redis

    drop_test_leftovers()
    create_test_database()
    redis.Redis(host="127.0.0.1", port=REDIS_PORT, db=REDIS_DB).flushdb()


def _parse(ts: str | None) -> datetime | None:
    return datetime.fromisoformat(ts) if ts else None


def max_overlap(intervals: list[tuple[datetime, datetime]]) -> int:
    """The most intervals running at one instant (one ending as another starts do not overlap)."""
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    return peak


def test_every_dag_succeeds_spread_over_both_workers_within_the_pool(airflow_stack, demo_data, capsys):
    stack = airflow_stack
    runs: dict[str, str] = {}
    states: dict[str, str] = {}
    started = time.monotonic()
    deadline = started + RUNS_TIMEOUT

    def trigger(dag_ids):
        for dag_id in dag_ids:
            conf = CONF.get(dag_id)
            runs[dag_id] = stack.trigger(dag_id, conf() if callable(conf) else conf)

    def done(dag_ids) -> bool:
        return all(states.get(d) in ("success", "failed") for d in dag_ids)

    trigger(FIRST)
    while time.monotonic() < deadline:
        for dag_id, run_id in runs.items():
            if states.get(dag_id) not in ("success", "failed"):
                states[dag_id] = stack.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")["state"]
        if all(states.get(d) == "success" for d in BACKUPS) and not set(NEEDS_BACKUP) & runs.keys():
            trigger(NEEDS_BACKUP)
        if done(FIRST + NEEDS_BACKUP) and not set(LAST) & runs.keys():
            trigger(LAST)
        if len(runs) == len(SUITE_DAGS) and done(SUITE_DAGS):
            break
        if any(states.get(d) == "failed" for d in BACKUPS):
            break
        time.sleep(3)
    elapsed = time.monotonic() - started

    tis = []
    for dag_id, run_id in runs.items():
        listed = stack.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 100})
        tis += listed["task_instances"]
    with capsys.disabled():
        print(f"\n{len(runs)} DAG runs in {elapsed:.0f}s on the CeleryExecutor; task instances (REST API v2):")
        for ti in sorted(tis, key=lambda t: (t["dag_id"], t["start_date"] or "", t["task_id"], t["map_index"])):
            label = ti["task_id"] if ti["map_index"] < 0 else f"{ti['task_id']}[{ti['map_index']}]"
            print(
                f"  {ti['dag_id']:<30} {label:<34} {ti['state'] or '-':<8} on {ti['hostname'] or '-':<8} "
                f"pool {ti['pool']:<12} {ti['start_date'] or '':<33} {ti['end_date'] or ''}"
            )

    not_ok = {d: states.get(d, "not triggered") for d in SUITE_DAGS if states.get(d) != "success"}
    if not_ok:
        failed_logs = []
        for ti in tis:
            if ti["state"] not in ("success", "skipped"):
                for log in sorted((stack.home / "logs" / f"dag_id={ti['dag_id']}").rglob(f"task_id={ti['task_id']}/*")):
                    tail = log.read_text(errors="replace").splitlines()[-15:]
                    failed_logs.append(f"--- {log.relative_to(stack.home)}\n" + "\n".join(tail))
        pytest.fail(
            f"runs not successful after {elapsed:.0f}s: {not_ok}\n"
            + "\n".join(failed_logs)
            + "\n"
            + stack.log_tail(components=("scheduler", *WORKERS))
        )

    ran = [ti for ti in tis if ti["state"] == "success"]
    by_worker = {w: sorted(f"{t['dag_id']}.{t['task_id']}" for t in ran if t["hostname"] == w) for w in WORKERS}
    assert {t["hostname"] for t in ran} <= set(WORKERS), {t["hostname"] for t in ran}
    for worker, tasks in by_worker.items():
        assert tasks, f"{worker} ran no task: {by_worker}"

    pools = [
        line.split()[1:3]
        for line in subprocess.run(
            [sys.executable, "-m", "analytics_ops.cli", "pool-spec"], check=True, capture_output=True, text=True
        ).stdout.splitlines()
        if line.startswith("pool ")
    ]
    assert {name for name, _ in pools} == {"mv_refresh", "heavy_maintenance"}, pools
    for pool_name, slots in pools:
        in_pool = [t for t in ran if t["pool"] == pool_name]
        running = max_overlap([(_parse(t["start_date"]), _parse(t["end_date"])) for t in in_pool])
        # Ready to run (scheduled) until done: more of these at once than slots means the pool was
        # put to the test (mv_refresh's four mapped refreshes become ready together; the weekly
        # maintenance's two VACUUMs too, and it and the monthly archival are triggered together, as
        # on a month's first Sunday).
        ready = max_overlap([(_parse(t["scheduled_when"]), _parse(t["end_date"])) for t in in_pool])
        dags = sorted({t["dag_id"] for t in in_pool})
        with capsys.disabled():
            print(
                f"pool {pool_name} ({slots} slots): {len(in_pool)} tasks of {dags}, "
                f"{ready} ready at once, {running} running"
            )
        assert running <= int(slots), f"{running} tasks overlapped in pool {pool_name} of {slots} slots: {in_pool}"
        assert ready > int(slots), f"the pool was never asked for more than its {slots} slots: {in_pool}"
        if pool_name == "heavy_maintenance":
            assert dags == ["analytics_monthly_archival", "analytics_weekly_maintenance"], dags
    with capsys.disabled():
        for worker, tasks in by_worker.items():
            print(f"{worker} ran {len(tasks)} task instances")
