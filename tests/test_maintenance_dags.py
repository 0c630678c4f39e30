"""Whole runs of the maintenance DAGs with dag.test() against the local stack."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.dag_runs import test_run

pytestmark = pytest.mark.airflow_run


def parse(dag_id: str):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder="dags").get_dag(dag_id)


def states(run) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for ti in run.get_task_instances():
        found.setdefault(ti.task_id, []).append(str(ti.state))
    return found


@pytest.fixture
def old_rows(empty_tasks):
    db = empty_tasks
    db.execute(
        "INSERT INTO daily_analytics SELECT d::date, u, 1, 1, 100, 0, 1, 0, 0, 0, 0, 0, 1, 0, 1 "
        "FROM generate_series('2023-01-01'::date, '2023-03-31'::date, interval '1 day') AS d, "
        "generate_series(1, 20) AS u"
    )
    return db


def test_monthly_archival_dry_run_then_real_run_then_rerun(old_rows, slack):
    db = old_rows
    run_at = datetime(2025, 6, 1, 2, 0, tzinfo=UTC)  # default cutoff: 2023-06-01

    dry = test_run(parse("analytics_monthly_archival"), logical_date=run_at, run_conf={"dry_run": True})
    assert dry.state == "success", states(dry)
    assert db.execute("SELECT count(*) FROM daily_analytics_archive").fetchone()[0] == 0

    run = test_run(parse("analytics_monthly_archival"), logical_date=run_at.replace(minute=1))
    assert run.state == "success", states(run)
    report = db.execute(
        "SELECT details FROM ops.run_log WHERE run_id = %s AND task_id = 'archive_rows'", (run.run_id,)
    ).fetchone()[0]
    assert (report["qualified"], report["moved"], report["arrived"], report["left_behind"]) == (1800, 1800, 1800, 0)
    assert db.execute("SELECT count(*) FROM ops.pg_stat_statements_history").fetchone()[0] > 0
    sizes = db.execute(
        "SELECT details FROM ops.run_log WHERE run_id = %s AND task_id = 'size_report'", (run.run_id,)
    ).fetchone()[0]
    assert any(t["relname"] == "daily_analytics" for t in sizes["tables"])

    again = test_run(parse("analytics_monthly_archival"), logical_date=run_at.replace(minute=2))
    assert again.state == "success"
    assert db.execute("SELECT count(*) FROM daily_analytics_archive").fetchone()[0] == 1800  # idempotent


def test_monthly_archival_refuses_an_older_than_too_close_to_today(old_rows, slack):
    run = test_run(parse("analytics_monthly_archival"), run_conf={"older_than": datetime.now(UTC).date().isoformat()})
    assert run.state == "failed"
    assert states(run)["resolve_cutoff"] == ["failed"]
    assert old_rows.execute("SELECT count(*) FROM daily_analytics").fetchone()[0] == 1800
    assert "younger than archival.min_retention_days" in slack.texts()[-1]


def test_weekly_maintenance_retention_and_stuck_work_runs_succeed(db, capfd):
    for dag_id, task_id in (
        ("analytics_weekly_maintenance", "report"),
        ("analytics_retention_cleanup", "apply_policy"),
        ("analytics_stuck_work", "fail_stuck_jobs"),
    ):
        capfd.readouterr()
        run = test_run(parse(dag_id))
        assert run.state == "success", (dag_id, states(run))
        # A run that succeeded prints no line at error level (a newcomer reads one as a failure).
        out = capfd.readouterr()
        errors = [line for line in (out.out + out.err).splitlines() if "[error" in line]
        assert not errors, (dag_id, errors)
        logged = db.execute(
            "SELECT count(*) FROM ops.run_log WHERE run_id = %s AND task_id = %s", (run.run_id, task_id)
        ).fetchone()[0]
        assert logged >= 1, dag_id


def test_weekly_maintenance_and_monthly_archival_take_turns_in_one_pool():
    """Both start at 02:00 on a month's first Sunday and both VACUUM daily_analytics: their heavy
    tasks share the one-slot `maintenance.pool` (that they really take turns under a scheduler is
    tests/e2e/test_every_dag_on_celery.py)."""
    import subprocess

    from analytics_ops.core.config import load_config

    settings = load_config().maintenance
    weekly, monthly = parse("analytics_weekly_maintenance"), parse("analytics_monthly_archival")
    assert (weekly.schedule, monthly.schedule) == ("0 2 * * 0", "0 2 * * 0#1")
    pooled = {(dag.dag_id, t.task_id) for dag in (weekly, monthly) for t in dag.tasks if t.pool == settings.pool}
    assert pooled == {
        ("analytics_weekly_maintenance", "vacuum_table"),
        ("analytics_weekly_maintenance", "reindex_index"),
        ("analytics_monthly_archival", "archive_rows"),
        ("analytics_monthly_archival", "vacuum_source"),
    }
    assert settings.pool_slots == 1
    # make airflow-db created it in this stack's Airflow, with the configured slots.
    import json

    listed = subprocess.run(
        ["airflow", "pools", "get", settings.pool, "--output", "json"], check=True, capture_output=True, text=True
    ).stdout
    assert [int(p["slots"]) for p in json.loads(listed)] == [settings.pool_slots], listed
