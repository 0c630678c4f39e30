"""The warn, critical and unreachable grades of the daily checks, each driven by a real condition.

Rows really waiting in the staging table, jobs really stuck in `processing`, run-log lines really
that old, a real inactive replication slot holding real WAL, the database's real buffer statistics
judged against thresholds lowered around them, and servers really not listening. Each check runs as
its task runs it (`evaluate` of its `DAILY_CHECKS` entry), against the local stack.
"""

from __future__ import annotations

import re
import socket
from datetime import UTC, datetime, timedelta

import pytest

from analytics_ops.core.config import load_config
from analytics_ops.core.db import connect
from analytics_ops.core.run_log import record_run
from analytics_ops.health.daily import DAILY_CHECKS
from analytics_ops.health.framework import CRITICAL, OK, WARN, CheckContext, CheckResult, evaluate
from tests.conftest import TEST_WAL_SLOT

DAILY = "analytics_health_check"
INACTIVE_SLOT = "aops_test_forgotten_replica"


def check(task_id: str) -> list[CheckResult]:
    """The results of the daily check of task `task_id`, as its task measures them now."""
    [daily] = [c for c in DAILY_CHECKS if c.task_id == task_id]
    return evaluate(daily, CheckContext(load_config(), DAILY, "grades", task_id, datetime.now(UTC)))


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- data ------------------------------------------------------------------------------------------


def stage(db, rows: int, waiting_for: str) -> None:
    db.execute(
        "INSERT INTO analytics_events_stage (kind, received_at) "
        "SELECT 'page_view', now() - %s::interval FROM generate_series(1, %s)",
        (waiting_for, rows),
    )


def test_staging_backlog_warns_then_goes_critical_as_rows_pile_up(db, override_config):
    override_config({"health_check": {"data": {"staging_backlog_warn_rows": 50, "staging_backlog_critical_rows": 200}}})
    db.execute("TRUNCATE analytics_events_stage RESTART IDENTITY")

    stage(db, 49, "1 minute")
    [result] = check("check_staging_backlog")
    assert (result.status, result.value) == (OK, "49 rows waiting")

    stage(db, 11, "90 minutes")
    [result] = check("check_staging_backlog")
    assert (result.status, result.value, result.numeric_value) == (WARN, "60 rows waiting", 60.0)
    assert result.threshold == "warn at 50, critical at 200"
    assert result.detail == "oldest waiting 90 min"

    stage(db, 140, "1 minute")
    [result] = check("check_staging_backlog")
    assert (result.status, result.value) == (CRITICAL, "200 rows waiting")
    db.execute("TRUNCATE analytics_events_stage RESTART IDENTITY")


def add_job(db, job_type: str, status: str, started_ago: str) -> int:
    return db.execute(
        "INSERT INTO processing_jobs (job_type, status, created_at, started_at) "
        "VALUES (%s, %s, now() - %s::interval, now() - %s::interval) RETURNING job_id",
        (job_type, status, started_ago, started_ago),
    ).fetchone()[0]


def test_stuck_jobs_warn_past_stuck_after_and_go_critical_past_the_critical_age(db):
    # The shipped limits: stuck after 30 min (stuck_work.stuck_after), critical after 2 h.
    db.execute("TRUNCATE processing_jobs RESTART IDENTITY")
    add_job(db, "still working", "processing", "10 minutes")
    add_job(db, "queued long ago", "queued", "5 hours")
    [result] = check("check_stuck_jobs")
    assert (result.status, result.value) == (OK, "0 job(s) processing over 30 min")

    stuck = add_job(db, "export", "processing", "45 minutes")
    [result] = check("check_stuck_jobs")
    assert (result.status, result.value) == (WARN, "1 job(s) processing over 30 min, oldest 45 min")
    assert result.detail == f"job {stuck} (export)" and result.threshold == "warn over 30 min, critical over 2 h"

    older = add_job(db, "reindex", "processing", "3 hours")
    [result] = check("check_stuck_jobs")
    assert (result.status, result.value) == (CRITICAL, "2 job(s) processing over 30 min, oldest 3.0 h")
    assert result.detail == f"job {older} (reindex), job {stuck} (export)"  # oldest first
    db.execute("TRUNCATE processing_jobs RESTART IDENTITY")


# --- the suite's own jobs --------------------------------------------------------------------------


def ran(dag_id: str, task_id: str, subject: str, ago: timedelta, dry_run: bool = False) -> None:
    finished = datetime.now(UTC) - ago
    with connect() as conn:
        record_run(
            conn, dag_id=dag_id, run_id=f"arranged-{ago}", task_id=task_id, subject=subject,
            started_at=finished - timedelta(minutes=5), finished_at=finished, details={"dry_run": dry_run},
        )  # fmt: skip


def test_last_archival_never_ran_then_warns_then_goes_critical_with_age(empty_tasks):
    # The shipped limits: warn over 36 d, critical over 64 d.
    [result] = check("check_archival")
    assert (result.status, result.value) == (WARN, "never ran (no archive_rows in ops.run_log)")

    ran("analytics_monthly_archival", "archive_rows", "daily_analytics", timedelta(days=70))
    ran("analytics_monthly_archival", "archive_rows", "daily_analytics", timedelta(days=1), dry_run=True)
    [result] = check("check_archival")  # a dry run archives nothing: it does not count
    assert (result.status, result.value) == (CRITICAL, "ran 70.0 d ago")
    assert result.threshold == "warn over 36.0 d, critical over 64.0 d"

    ran("analytics_monthly_archival", "archive_rows", "daily_analytics", timedelta(days=40))
    [result] = check("check_archival")
    assert (result.status, result.value) == (WARN, "ran 40.0 d ago")

    ran("analytics_monthly_archival", "archive_rows", "daily_analytics", timedelta(days=3))
    [result] = check("check_archival")
    assert (result.status, result.value) == (OK, "ran 3.0 d ago")


def test_last_cache_warm_never_warmed_is_critical_then_graded_by_age(empty_tasks):
    # The shipped limits: warn over 7 h, critical over 13 h.
    [result] = check("check_cache_warm")
    assert (result.status, result.value) == (CRITICAL, "never warmed (no cache warming in ops.run_log)")

    ran("analytics_cache_warming", "report", "redis", timedelta(hours=14))
    [result] = check("check_cache_warm")
    assert (result.status, result.value) == (CRITICAL, "warmed 14.0 h ago")
    assert result.threshold == "warn over 7 h, critical over 13 h"

    ran("analytics_cache_warming", "report", "redis", timedelta(hours=8))
    ran("analytics_other_dag", "report", "redis", timedelta(hours=1))  # another DAG's task of that name
    [result] = check("check_cache_warm")
    assert (result.status, result.value) == (WARN, "warmed 8.0 h ago")

    ran("analytics_cache_warming", "report", "redis", timedelta(hours=2))
    [result] = check("check_cache_warm")
    assert (result.status, result.value) == (OK, "warmed 2.0 h ago")


# --- servers ---------------------------------------------------------------------------------------


def test_buffer_cache_hit_ratio_is_graded_on_the_measured_ratio(db, override_config):
    db.execute("SELECT count(*) FROM pg_class")  # some block accesses of this database, at least
    hits, reads = db.execute(
        "SELECT blks_hit, blks_read FROM pg_stat_database WHERE datname = current_database()"
    ).fetchone()
    assert reads > 0, "a fresh database has read blocks from disk"  # so its ratio is under 100%

    thresholds = {"buffer_cache_min_blocks": 1, "buffer_cache_hit_warn_pct": 100, "buffer_cache_hit_critical_pct": 0}
    override_config({"health_check": {"postgres": thresholds}})
    [result] = check("check_buffer_cache")
    assert result.status == WARN and result.threshold == "warn under 100%, critical under 0%"
    assert re.fullmatch(r"\d+\.\d\d% since the server started", result.value) or re.fullmatch(
        r"\d+\.\d\d% since \d{4}-\d\d-\d\dT\d\d:\d\d.*", result.value
    ), result.value
    measured_hits, measured_reads = map(int, re.fullmatch(r"(\d+) hits, (\d+) reads", result.detail).groups())
    assert measured_hits >= hits and measured_reads >= reads
    assert result.numeric_value == round(100.0 * measured_hits / (measured_hits + measured_reads), 3)
    assert float(result.value.split("%")[0]) == pytest.approx(result.numeric_value, abs=0.006)

    override_config({"health_check": {"postgres": {**thresholds, "buffer_cache_hit_critical_pct": 100}}})
    [result] = check("check_buffer_cache")
    assert result.status == CRITICAL and result.numeric_value < 100

    override_config({"health_check": {"postgres": {**thresholds, "buffer_cache_min_blocks": 10**15}}})
    [result] = check("check_buffer_cache")
    assert result.status == OK and result.value.endswith(": too few to judge") and result.numeric_value is None


@pytest.fixture
def inactive_slot(db):
    """A physical slot with WAL reserved that nobody reads: what a removed replica leaves behind."""

    def drop() -> None:
        db.execute(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = ANY(%s)",
            ([INACTIVE_SLOT, TEST_WAL_SLOT],),
        )

    drop()
    yield
    drop()  # a slot nobody reads keeps WAL forever


def write_some_wal(db) -> None:
    db.execute("CREATE TABLE IF NOT EXISTS slot_wal_filler (id bigint, pad text)")
    db.execute("INSERT INTO slot_wal_filler SELECT g, repeat('x', 100) FROM generate_series(1, 2000) AS g")
    db.execute("DROP TABLE slot_wal_filler")


def slot_result(name: str) -> CheckResult:
    results = {r.check_name: r for r in check("check_replication_slots")}
    return results[f"replication_slot:{name}"]


def test_an_inactive_slot_warns_and_goes_critical_once_it_holds_enough_wal(db, inactive_slot, override_config):
    # As the suite's limited role, which has REPLICATION (docs/roles.md: the backup DAG's WAL slot).
    db.execute("SELECT pg_create_physical_replication_slot(%s, true)", (INACTIVE_SLOT,))
    write_some_wal(db)

    result = slot_result(INACTIVE_SLOT)  # shipped limits: 1 GB / 8 GB retained
    assert result.status == WARN, result
    assert result.detail.startswith("physical slot, inactive") and result.numeric_value > 0
    assert re.fullmatch(r"\d+(\.\d)? [kM]?B retained", result.value), result.value
    retained = result.numeric_value

    warn_at, critical_at = int(retained // 4), int(retained // 2)
    limits = {"slot_retained_warn_bytes": warn_at, "slot_retained_critical_bytes": critical_at}
    override_config({"health_check": {"replication": limits}})
    result = slot_result(INACTIVE_SLOT)
    assert result.status == CRITICAL and result.numeric_value >= retained, result
    assert result.threshold.startswith("warn at ") and " retained or inactive, critical at " in result.threshold


def test_the_backup_dags_inactive_slot_is_judged_on_retained_wal_only(db, inactive_slot, override_config):
    override_config({"backups": {"wal_slot": TEST_WAL_SLOT}})
    db.execute("SELECT pg_create_physical_replication_slot(%s, true)", (TEST_WAL_SLOT,))
    write_some_wal(db)

    result = slot_result(TEST_WAL_SLOT)
    assert result.status == OK, result  # inactive between pg_receivewal runs is its normal state
    assert result.detail == (
        "physical slot, inactive, read by analytics_backup_incremental every 6 h, wal_status reserved"
    )

    limits = {"slot_retained_warn_bytes": 1, "slot_retained_critical_bytes": 2**40}
    override_config({"backups": {"wal_slot": TEST_WAL_SLOT}, "health_check": {"replication": limits}})
    assert slot_result(TEST_WAL_SLOT).status == WARN


def test_an_unreachable_primary_is_critical_and_says_why(monkeypatch):
    [result] = check("check_postgres_reachable")
    assert result.status == OK and re.fullmatch(r"answered in \d+ ms", result.value)
    assert result.detail.startswith("PostgreSQL ")

    port = closed_port()
    monkeypatch.setenv("AIRFLOW_CONN_ANALYTICS_DB", f'{{"conn_type": "postgres", "host": "127.0.0.1", "port": {port}}}')
    [result] = check("check_postgres_reachable")
    assert (result.check_name, result.status, result.value) == ("postgres_reachable", CRITICAL, "could not measure")
    assert result.detail.startswith("OperationalError: ") and str(port) in result.detail, result.detail


def test_an_unreachable_redis_is_critical_and_says_why(monkeypatch):
    [result] = check("check_redis_reachable")
    assert result.status == OK and re.fullmatch(r"PONG in \d+\.\d ms", result.value)
    assert result.detail.startswith("Redis ")

    port = closed_port()
    monkeypatch.setenv("AIRFLOW_CONN_ANALYTICS_REDIS", f'{{"conn_type": "redis", "host": "127.0.0.1", "port": {port}}}')
    [result] = check("check_redis_reachable")
    assert (result.check_name, result.status, result.value) == ("redis_reachable", CRITICAL, "could not measure")
    assert result.detail.startswith("ConnectionError: ") and str(port) in result.detail, result.detail
