"""Stuck jobs, idle-in-transaction sessions and retention act on exactly what they should."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from analytics_ops.core.config import RetentionPolicy
from analytics_ops.core.db import connect
from analytics_ops.retention.policies import apply_policy
from analytics_ops.stuck_work.jobs_and_sessions import fail_stuck_jobs, terminate_idle_in_transaction
from tests.conftest import PG_PASSWORD, PG_PORT, PG_USER, TEST_DB, superuser_connect


@pytest.fixture
def jobs(db):
    db.execute("TRUNCATE processing_jobs RESTART IDENTITY")
    rows = [
        ("stuck", "processing", "45 minutes"),
        ("also stuck", "processing", "3 hours"),
        ("still working", "processing", "10 minutes"),
        ("queued long ago", "queued", "5 hours"),
        ("done", "completed", "2 hours"),
    ]
    for job_type, status, age in rows:
        db.execute(
            "INSERT INTO processing_jobs (job_type, status, created_at, started_at) "
            "VALUES (%s, %s, now() - %s::interval, now() - %s::interval)",
            (job_type, status, age, age),
        )
    return db


def test_only_jobs_processing_for_too_long_are_failed(jobs):
    with connect() as conn:
        acted = fail_stuck_jobs(conn, timedelta(minutes=30))
    assert sorted(a["job_type"] for a in acted) == ["also stuck", "stuck"]
    states = dict(jobs.execute("SELECT job_type, status FROM processing_jobs").fetchall())
    assert states == {
        "stuck": "failed",
        "also stuck": "failed",
        "still working": "processing",
        "queued long ago": "queued",
        "done": "completed",
    }
    message = jobs.execute("SELECT error_message FROM processing_jobs WHERE job_type = 'stuck'").fetchone()[0]
    assert message == "Cancelled by analytics-ops: stuck in processing for over 30 minutes (runbook 002, INC-003)"


def _session(application_name: str, in_transaction: bool, *, superuser: bool = False) -> psycopg.Connection:
    if superuser:
        conn = superuser_connect(TEST_DB)
        conn.autocommit = False
        conn.execute("SELECT set_config('application_name', %s, false)", (application_name,))
    else:
        conn = psycopg.connect(
            host="127.0.0.1", port=PG_PORT, user=PG_USER, password=PG_PASSWORD, dbname=TEST_DB,
            application_name=application_name,
        )  # fmt: skip
    conn.execute("SELECT 1")
    if not in_transaction:
        conn.commit()
    return conn


def test_only_foreign_sessions_idle_in_a_transaction_too_long_are_terminated():
    sessions = {
        "victim-app": _session("victim-app", in_transaction=True),
        "analytics-ops:some-task": _session("analytics-ops:some-task", in_transaction=True),
        "payments-worker-1": _session("payments-worker-1", in_transaction=True),
        # Exact names and `*` prefixes only: the entry "v_ctim-app" spares neither victim (`_` is no wildcard).
        "victim_app": _session("victim_app", in_transaction=True),
        "pg_dump": _session("pg_dump", in_transaction=True),  # a backup's snapshot, idle by design
        "plain-idle": _session("plain-idle", in_transaction=False),
        # The suite's role (pg_signal_backend) may not signal a superuser's session: it is reported,
        # and the others are still terminated in the same run.
        "dba-console": _session("dba-console", in_transaction=True, superuser=True),
    }
    time.sleep(1.2)
    fresh = _session("victim-but-fresh", in_transaction=True)
    try:
        with connect() as conn:
            acted = terminate_idle_in_transaction(conn, timedelta(seconds=1), allow=["payments-*", "v_ctim-app"])
        by_app = {a["application_name"]: a for a in acted}
        assert sorted(by_app) == ["dba-console", "victim-app", "victim_app"]
        assert by_app["victim-app"]["terminated"] is True and "skipped_because" not in by_app["victim-app"]
        assert by_app["dba-console"]["terminated"] is False
        assert "superuser" in by_app["dba-console"]["skipped_because"]
        for name in ("victim-app", "victim_app"):
            with pytest.raises(psycopg.OperationalError):
                sessions[name].execute("SELECT 1")
        for name in ("analytics-ops:some-task", "payments-worker-1", "pg_dump", "plain-idle", "dba-console"):
            assert sessions[name].execute("SELECT 1").fetchone() == (1,), name
        assert fresh.execute("SELECT 1").fetchone() == (1,)
    finally:
        for conn in [*sessions.values(), fresh]:
            conn.close()


def test_spared_applications_are_names_or_star_prefixes() -> None:
    from pydantic import ValidationError

    from analytics_ops.core.config import StuckWorkSettings
    from analytics_ops.stuck_work.jobs_and_sessions import spared_applications

    assert spared_applications(["billing"], spare_backup_tools=False) == ["analytics-ops*", "billing"]
    assert "pg_dump" in spared_applications([]) and "barman*" in spared_applications([])
    for bad in ("*", "a*b", "**"):
        with pytest.raises(ValidationError, match="trailing"):
            StuckWorkSettings(allow_applications=[bad])


def test_retention_deletes_exactly_the_old_matching_rows_in_batches(db):
    db.execute("TRUNCATE analytics_alerts, analytics_alert_rules RESTART IDENTITY CASCADE")
    db.execute("INSERT INTO analytics_alert_rules (name, metric, threshold) VALUES ('r', 'm', 1)")
    now = datetime(2026, 6, 1, tzinfo=UTC)
    db.execute(
        "INSERT INTO analytics_alerts (rule_id, status, created_at, resolved_at) "
        "SELECT 1, CASE WHEN mod(n, 3) = 0 THEN 'open' ELSE 'resolved' END, %(now)s - n * interval '1 day', "
        "CASE WHEN mod(n, 3) = 0 THEN NULL ELSE %(now)s - n * interval '1 day' END FROM generate_series(1, 90) AS n",
        {"now": now},
    )
    expected_gone = db.execute(
        "SELECT count(*) FROM analytics_alerts WHERE status = 'resolved' AND resolved_at < %s",
        (now - timedelta(days=30),),
    ).fetchone()[0]
    policy = RetentionPolicy.model_validate(
        {
            "table": "analytics_alerts",
            "key_column": "id",
            "timestamp_column": "resolved_at",
            "older_than": "30d",
            "only_when": {"column": "status", "equals": "resolved"},
        }
    )
    with connect() as conn:
        result = apply_policy(conn, policy, now, batch_rows=7)

    assert result["deleted"] == expected_gone > 30
    assert result["batches"] == -(-expected_gone // 7)
    left = db.execute(
        "SELECT count(*) FILTER (WHERE status = 'open'), count(*) FILTER (WHERE resolved_at < %s) "
        "FROM analytics_alerts",
        (now - timedelta(days=30),),
    ).fetchone()
    assert left == (30, 0)  # every open alert kept, however old; no old resolved one left
