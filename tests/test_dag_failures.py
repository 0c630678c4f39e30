"""Whole runs that fail for a real reason: the run fails, the failing task is the one expected, and
the alert says what broke and points at the DAG's own "When it fails" entry for that task.

Each case breaks something real on the local stack (a lock held by another session, a statement
timeout, a trigger that corrupts what the aggregation writes, a backup destination that cannot be
written), with retries off so the first failure is final.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.conftest import TEST_DB, TEST_WAL_SLOT, admin_connect
from tests.dag_runs import test_run
from tests.test_maintenance_dags import parse, states

pytestmark = pytest.mark.airflow_run


@contextmanager
def table_locked(*tables: str) -> Iterator[None]:
    """Another session holds an ACCESS EXCLUSIVE lock on `tables` (a migration, a stuck DDL)."""
    with admin_connect(TEST_DB) as holder:
        holder.execute("BEGIN")
        for table in tables:
            holder.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")  # names are this file's constants
        try:
            yield
        finally:
            holder.execute("ROLLBACK")


@contextmanager
def view_being_refreshed(view: str) -> Iterator[None]:
    """Another session is in the middle of a plain REFRESH of `view` (its ACCESS EXCLUSIVE lock held
    until it ends); LOCK TABLE does not take materialized views."""
    with admin_connect(TEST_DB) as holder:
        holder.execute("BEGIN")
        holder.execute(f"REFRESH MATERIALIZED VIEW {view}")  # a name of this file's
        try:
            yield
        finally:
            holder.execute("ROLLBACK")


@contextmanager
def quality_broken(db: Any) -> Iterator[None]:
    """A trigger inflates every completed count the aggregation writes: the quality gate must see it."""
    db.execute(
        "CREATE OR REPLACE FUNCTION public.aops_test_inflate() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN NEW.tasks_completed := NEW.tasks_completed + 1000; RETURN NEW; END $$"
    )
    db.execute(
        "CREATE TRIGGER aops_test_inflate BEFORE INSERT ON daily_analytics "
        "FOR EACH ROW EXECUTE FUNCTION public.aops_test_inflate()"
    )
    try:
        yield
    finally:
        db.execute("DROP TRIGGER IF EXISTS aops_test_inflate ON daily_analytics")
        db.execute("DROP FUNCTION IF EXISTS public.aops_test_inflate()")


@contextmanager
def nothing() -> Iterator[None]:
    yield


CASES: dict[str, tuple[Callable[..., Any], dict, dict, set[str], str]] = {
    # dag_id: (breakage, config override, run kwargs, tasks that must fail, error text)
    "analytics_weekly_maintenance": (
        lambda db, tmp: table_locked("tasks", "daily_analytics"),
        {},
        {"logical_date": datetime(2026, 11, 22, 2, tzinfo=UTC)},
        {"plan_vacuum"},
        "lock timeout",
    ),
    "analytics_retention_cleanup": (
        lambda db, tmp: table_locked("processing_jobs", "email_send_history", "analytics_alerts"),
        {},
        {},
        {"apply_policy"},
        "lock timeout",
    ),
    "analytics_stuck_work": (
        lambda db, tmp: table_locked("processing_jobs"),
        {},
        {},
        {"fail_stuck_jobs"},
        "lock timeout",
    ),
    "analytics_alert_evaluator": (
        lambda db, tmp: table_locked("ops.alerts"),
        {"dags": {"analytics_alert_evaluator": {"retries": 0}}},
        {},
        {"evaluate_alert_rules"},
        "lock timeout",
    ),
    "analytics_weekly_review": (
        lambda db, tmp: nothing(),
        {"health_check": {"statement_timeout": "1ms"}},
        {},
        {"review_bloat"},
        "statement timeout",
    ),
    "analytics_mv_refresh": (
        lambda db, tmp: view_being_refreshed("user_task_stats"),
        {},
        {},
        {"refresh_view"},
        "lock timeout",
    ),
    "analytics_mv_refresh_frequent": (
        lambda db, tmp: view_being_refreshed("mv_txn_daily_agg"),
        {},
        {},
        {"refresh_view"},
        "lock timeout",
    ),
    "analytics_backup_incremental": (
        lambda db, tmp: nothing(),
        {"backups": {"wal_slot": TEST_WAL_SLOT}},
        {"logical_date": datetime(2026, 11, 23, 0, tzinfo=UTC)},
        {"take_base_backup"},
        "",
    ),
    "analytics_daily_aggregation": (
        lambda db, tmp: quality_broken(db),
        {},
        {"run_conf": {"start_date": "2025-09-01", "end_date": "2025-09-01"}},
        {"check_quality"},
        "data-quality gate failed for daily_analytics on 2025-09-01: ",
    ),
}


@pytest.mark.parametrize("dag_id", sorted(CASES))
def test_a_failing_run_alerts_with_what_broke_and_the_runbook_entry(
    dag_id, db, some_data, slack, override_config, tmp_path, monkeypatch
):
    breakage, config, run_kwargs, must_fail, error = CASES[dag_id]
    override_config(
        {"dag_defaults": {"retries": 0}, "database": {"lock_timeout": "1s"}, "airflow": {"base_url": "http://af"}}
        | config
    )
    if dag_id == "analytics_backup_incremental":
        blocker = tmp_path / "not-a-folder"
        blocker.write_text("a file where the backup folder should be")
        monkeypatch.setenv("ANALYTICS_OPS_BACKUP_DESTINATION", (blocker / "backups").as_uri())
    if dag_id == "analytics_daily_aggregation":
        db.execute(
            "INSERT INTO tasks (user_id, title, status, priority, created_at, updated_at, completed_at) "
            "SELECT 1 + i % 20, 'done ' || i, 'done', 'low', '2025-09-01 10:00+00', now(), '2025-09-01 12:00+00' "
            "FROM generate_series(1, 50) AS i"
        )
    db.execute("DELETE FROM ops.dag_run_outcomes WHERE dag_id = %s", (dag_id,))

    with breakage(db, tmp_path):
        run = test_run(parse(dag_id), **run_kwargs)

    found = states(run)
    assert run.state == "failed", found
    failed = {task_id for task_id, s in found.items() if "failed" in s}
    assert must_fail <= failed, found
    texts = slack.texts()
    for task_id in must_fail:
        alerts = [t for t in texts if f"{dag_id}.{task_id}" in t and " failed*" in t]
        assert alerts, f"no failure alert for {dag_id}.{task_id}: {texts}"
        alert = alerts[-1]
        assert error in alert, alert
        # The alert links the DAG's own documentation entry for this task.
        assert f"<http://af/dags/{dag_id}#when-it-fails|runbook>: *`{task_id}`" in alert, alert
    outcome = db.execute(
        "SELECT outcome FROM ops.dag_run_outcomes WHERE dag_id = %s AND run_id = %s", (dag_id, run.run_id)
    ).fetchone()
    assert outcome == ("failed",), outcome
