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


@pytest.fixture
def alert_history(db):
    """The alert evaluator's history tables, emptied before and after the test."""
    db.execute("TRUNCATE ops.alerts, ops.alert_notifications, ops.alert_rule_failures")
    yield db
    db.execute("TRUNCATE ops.alerts, ops.alert_notifications, ops.alert_rule_failures")


def add_episode(db, state: str, active_days_ago: int, resolved_days_ago: int | None, now: datetime) -> None:
    db.execute(
        "INSERT INTO ops.alerts (fingerprint, rule, severity, state, active_since, firing_since, last_seen, "
        "resolved_at, value, threshold, summary, advice) VALUES (%(fp)s, 'r', 'P2', %(state)s, %(active)s, "
        "CASE WHEN %(state)s <> 'pending' THEN %(active)s END, %(now)s, %(resolved)s, 'v', 't', 's', 'a')",
        {
            "fp": f"{state}-{active_days_ago}-{resolved_days_ago}",
            "state": state,
            "active": now - timedelta(days=active_days_ago),
            "resolved": None if resolved_days_ago is None else now - timedelta(days=resolved_days_ago),
            "now": now,
        },
    )


def test_the_shipped_policies_keep_open_alerts_and_the_recent_alert_history(alert_history):
    from analytics_ops.core.config import load_config
    from analytics_ops.maintenance.vacuum_reindex import vacuum_table

    db = alert_history
    now = datetime(2026, 6, 1, tzinfo=UTC)
    for state, active, resolved in (
        ("firing", 400, None),  # open for over a year: kept
        ("pending", 200, None),  # open: kept
        ("resolved", 120, 91),  # resolved over 90 days ago: gone
        ("resolved", 120, 100),  # gone
        ("resolved", 95, 89),  # resolved 89 days ago: kept
    ):
        add_episode(db, state, active, resolved, now)
    # Only resolved episodes go, whatever else a row says (a firing one never has resolved_at: by hand).
    add_episode(db, "firing", 300, 200, now)
    for days_ago in (91, 120, 89, 1):
        db.execute(
            "INSERT INTO ops.alert_notifications (fingerprint, rule, kind, severity, connection, sent_at, delivered) "
            "VALUES ('f', 'r', 'firing', 'P2', 'slack_ops', %s, TRUE)",
            (now - timedelta(days=days_ago),),
        )
    for days_ago in (31, 45, 29, 1):
        db.execute(
            "INSERT INTO ops.alert_rule_failures (rule_id, rule_name, failed_at, error) VALUES (1, 'r', %s, 'e')",
            (now - timedelta(days=days_ago),),
        )
    shipped = {p.table: p for p in load_config().retention.policies}

    with connect() as conn:
        deleted = {
            table: apply_policy(conn, shipped[table], now, batch_rows=1)["deleted"]
            for table in ("ops.alerts", "ops.alert_notifications", "ops.alert_rule_failures")
        }

    assert deleted == {"ops.alerts": 2, "ops.alert_notifications": 2, "ops.alert_rule_failures": 2}
    left = db.execute(
        "SELECT state, (%s::timestamptz - resolved_at) FROM ops.alerts ORDER BY state, resolved_at", (now,)
    ).fetchall()
    assert left == [
        ("firing", timedelta(days=200)),
        ("firing", None),
        ("pending", None),
        ("resolved", timedelta(days=89)),
    ]
    sent = db.execute(
        "SELECT array_agg(date_part('day', %s::timestamptz - sent_at)::int ORDER BY sent_at) "
        "FROM ops.alert_notifications",
        (now,),
    )
    assert sent.fetchone()[0] == [89, 1]
    failed = db.execute(
        "SELECT array_agg(date_part('day', %s::timestamptz - failed_at)::int ORDER BY failed_at) "
        "FROM ops.alert_rule_failures",
        (now,),
    )
    assert failed.fetchone()[0] == [29, 1]
    # What the retention DAG does next: VACUUM each table it deleted from, as the suite's role.
    with connect(autocommit=True) as conn:
        for table in deleted:
            assert vacuum_table(conn, table)["table"] == table


def test_a_schema_qualified_archive_table_is_quoted_part_by_part(alert_history):
    db = alert_history
    now = datetime(2026, 6, 1, tzinfo=UTC)
    db.execute("DROP TABLE IF EXISTS ops.alert_rule_failures_kept")
    db.execute("CREATE TABLE ops.alert_rule_failures_kept (LIKE ops.alert_rule_failures)")
    try:
        for days_ago in (40, 50, 10):
            db.execute(
                "INSERT INTO ops.alert_rule_failures (rule_id, rule_name, failed_at, error) VALUES (1, 'r', %s, 'e')",
                (now - timedelta(days=days_ago),),
            )
        policy = RetentionPolicy.model_validate(
            {
                "table": "ops.alert_rule_failures",
                "key_column": "id",
                "timestamp_column": "failed_at",
                "older_than": "30d",
                "archive_table": "ops.alert_rule_failures_kept",
            }
        )
        with connect() as conn:
            result = apply_policy(conn, policy, now, batch_rows=1)
        assert (result["deleted"], result["batches"]) == (2, 2)
        assert db.execute("SELECT count(*) FROM ops.alert_rule_failures_kept").fetchone()[0] == 2
        assert db.execute("SELECT count(*) FROM ops.alert_rule_failures").fetchone()[0] == 1
    finally:
        db.execute("DROP TABLE ops.alert_rule_failures_kept")


def test_a_table_is_a_name_or_schema_dot_name():
    from pydantic import ValidationError

    base = {"key_column": "id", "timestamp_column": "t", "older_than": "1d"}
    for good in ("processing_jobs", "ops.alerts"):
        assert RetentionPolicy.model_validate({**base, "table": good, "archive_table": good}).table == good
    for bad in ("a.b.c", ".alerts", "ops.", ""):
        with pytest.raises(ValidationError, match="schema.name"):
            RetentionPolicy.model_validate({**base, "table": bad})
        with pytest.raises(ValidationError, match="schema.name"):
            RetentionPolicy.model_validate({**base, "table": "t", "archive_table": bad})
