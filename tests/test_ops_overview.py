"""What the Analytics Ops page shows, read from the real test database, replica and Airflow metadata DB.

Each database test runs in a transaction that is rolled back, so it can shape the suite's tables
(even create the contract tables other parts of the suite own, or drop them to see "not set up")
without leaving anything behind.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from analytics_ops.core.config import load_config
from analytics_ops.core.db import split_name
from analytics_ops.ops_page.overview import (
    database_sections,
    human_age,
    human_bytes,
    replica_lag,
    run_path,
    suite_dag_runs,
)

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)

# The shared table contracts (HELPER_CONTEXT: ops.backups from migration 007, ops.health_check_results
# from migration 008). Created here only when those migrations are not in this branch yet.
BACKUPS_CONTRACT = """
CREATE TABLE IF NOT EXISTS ops.backups (
    backup_id text PRIMARY KEY, kind text, location text, started_at timestamptz, finished_at timestamptz,
    size_bytes bigint, server_version text, manifest jsonb, verified_at timestamptz, verification jsonb,
    deleted_at timestamptz, dag_id text, run_id text)
"""
HEALTH_CONTRACT = """
CREATE TABLE IF NOT EXISTS ops.health_check_results (
    id bigserial PRIMARY KEY, dag_id text, run_id text, checked_at timestamptz, check_name text, status text,
    value text, numeric_value double precision, threshold text, detail text)
"""


@pytest.fixture
def txn(test_database: str) -> Iterator[Any]:
    """A connection in one transaction, rolled back at the end."""
    from analytics_ops.core.db import connect

    with connect(application_name="analytics-ops:test") as conn:
        try:
            yield conn
        finally:
            conn.rollback()


def sections(conn: Any) -> dict:
    return database_sections(conn, load_config(), now=NOW, ui_base="/ui-base")


def log_run(conn: Any, dag_id: str, run_id: str, task_id: str, subject: str, finished: datetime, details: dict):
    conn.execute(
        "INSERT INTO ops.run_log (dag_id, run_id, task_id, subject, started_at, finished_at, outcome, details) "
        "VALUES (%s, %s, %s, %s, %s, %s, 'success', %s::jsonb)",
        (dag_id, run_id, task_id, subject, finished - timedelta(seconds=5), finished, json.dumps(details)),
    )


def test_run_links_go_to_the_run_page_with_ids_quoted() -> None:
    assert run_path("analytics_mv_refresh", "manual__2026-03-10T12:00:00+00:00") == (
        "/dags/analytics_mv_refresh/runs/manual__2026-03-10T12%3A00%3A00%2B00%3A00"
    )
    assert run_path("d", "r/x", "/base") == "/base/dags/d/runs/r%2Fx"
    assert run_path(None, "r") is None and run_path("d", None) is None


def test_ages_and_sizes_read_like_an_operator_writes_them() -> None:
    assert human_age(None) == "never"
    assert human_age(42) == "42 s"
    assert human_age(3 * 3600 + 5 * 60) == "3 h 5 min"
    assert human_age(2 * 86400) == "2 d"
    assert human_age(26 * 3600) == "1 d 2 h"
    assert human_bytes(512) == "512 B"
    assert human_bytes(3 * 1024**3) == "3.0 GB"


def test_missing_backup_and_health_tables_show_as_not_set_up(txn: Any) -> None:
    txn.execute("DROP TABLE IF EXISTS ops.backups CASCADE")
    txn.execute("DROP TABLE IF EXISTS ops.health_check_results CASCADE")
    got = sections(txn)
    assert got["backups"].state == "not_set_up" and "ops.backups" in got["backups"].note
    assert got["health_checks"].state == "not_set_up" and "ops.health_check_results" in got["health_checks"].note
    # The sections of tables that do exist are unaffected.
    assert got["archival"].state == "ok" and got["view_refreshes"].state == "ok"


def test_newest_verified_kept_backup_with_its_age_and_run(txn: Any) -> None:
    txn.execute(BACKUPS_CONTRACT)
    txn.execute("TRUNCATE ops.backups")
    rows = [
        # id, finished, verified, deleted
        ("full-old", NOW - timedelta(days=3), NOW - timedelta(days=3), None),
        ("full-verified", NOW - timedelta(hours=30), NOW - timedelta(hours=29), None),
        ("full-deleted", NOW - timedelta(hours=20), NOW - timedelta(hours=19), NOW - timedelta(hours=1)),
        ("full-unverified", NOW - timedelta(hours=6), None, None),
    ]
    for backup_id, finished, verified, deleted in rows:
        txn.execute(
            "INSERT INTO ops.backups (backup_id, kind, location, started_at, finished_at, size_bytes, verified_at, "
            "deleted_at, dag_id, run_id) VALUES (%s, 'full', %s, %s, %s, %s, %s, %s, 'analytics_backup_full', %s)",
            (
                backup_id,
                f"file:///backups/{backup_id}",
                finished - timedelta(minutes=10),
                finished,
                5 * 1024**2,
                verified,
                deleted,
                f"scheduled__{backup_id}",
            ),
        )
    section = sections(txn)["backups"]
    assert section.state == "ok"
    assert section.note == "3 backups kept, 2 verified"
    (shown,) = section.rows
    assert shown["backup_id"] == "full-verified"
    assert shown["age_seconds"] == 30 * 3600
    assert shown["newer_unverified"] == 1
    assert shown["size"] == "5.0 MB"
    assert shown["run_url"] == "/ui-base/dags/analytics_backup_full/runs/scheduled__full-verified"


def test_no_verified_backup_is_said(txn: Any) -> None:
    txn.execute(BACKUPS_CONTRACT)
    txn.execute("TRUNCATE ops.backups")
    txn.execute(
        "INSERT INTO ops.backups (backup_id, kind, location, started_at, finished_at) "
        "VALUES ('b1', 'full', 'file:///backups/b1', now(), now())"
    )
    section = sections(txn)["backups"]
    assert section.rows == [] and section.note == "1 backups kept, 0 verified; no verified backup"


def test_latest_result_of_each_health_check_worst_first(txn: Any) -> None:
    txn.execute(HEALTH_CONTRACT)
    txn.execute("TRUNCATE ops.health_check_results")
    results = [
        ("replica_lag", "critical", "95 s", NOW - timedelta(hours=25), "run-old"),
        ("replica_lag", "ok", "0.4 s", NOW - timedelta(minutes=30), "run-new"),
        ("cache_hit_ratio", "warn", "91 %", NOW - timedelta(minutes=30), "run-new"),
        ("connections", "ok", "12 of 200", NOW - timedelta(minutes=30), "run-new"),
    ]
    for name, status, value, checked, run_id in results:
        txn.execute(
            "INSERT INTO ops.health_check_results (dag_id, run_id, checked_at, check_name, status, value, threshold) "
            "VALUES ('analytics_health_check', %s, %s, %s, %s, %s, 'x')",
            (run_id, checked, name, status, value),
        )
    section = sections(txn)["health_checks"]
    assert [(r["check_name"], r["status"], r["value"]) for r in section.rows] == [
        ("cache_hit_ratio", "warn", "91 %"),
        ("connections", "ok", "12 of 200"),
        ("replica_lag", "ok", "0.4 s"),
    ]
    assert section.rows[0]["run_url"] == "/ui-base/dags/analytics_health_check/runs/run-new"


def test_a_section_whose_table_breaks_the_contract_shows_its_error_and_the_rest_still_show(txn: Any) -> None:
    txn.execute("DROP TABLE IF EXISTS ops.backups CASCADE")
    txn.execute("CREATE TABLE ops.backups (backup_id text)")
    got = sections(txn)
    assert got["backups"].state == "error"
    assert "UndefinedColumn" in got["backups"].note  # a column the contract promises and the table lacks
    assert got["archival"].state == "ok" and got["view_refreshes"].state == "ok"


def test_last_refresh_of_every_configured_view(txn: Any) -> None:
    txn.execute("TRUNCATE ops.run_log")
    config = load_config()
    views = [v for spec in config.mv_refresh.groups.values() for v in spec.views]
    first = views[0]
    # The subject as the refresh task records it: schema-qualified.
    subject = ".".join(split_name(first))
    log_run(txn, "analytics_mv_refresh", "r1", "refresh_view", subject, NOW - timedelta(days=1), {"seconds": 9})
    newest = {"mode": "concurrent", "seconds": 1.25, "rows": 1000}
    log_run(txn, "analytics_mv_refresh", "r2", "refresh_view", subject, NOW - timedelta(hours=2), newest)
    log_run(txn, "analytics_mv_refresh", "r2", "other_task", ".".join(split_name(views[1])), NOW, {})  # not a refresh
    section = sections(txn)["view_refreshes"]
    assert [r["view"] for r in section.rows] == views
    by_view = {r["view"]: r for r in section.rows}
    assert by_view[first]["run_id"] == "r2"
    assert (by_view[first]["seconds"], by_view[first]["rows"], by_view[first]["age_seconds"]) == (1.25, 1000, 7200)
    assert by_view[first]["run_url"] == "/ui-base/dags/analytics_mv_refresh/runs/r2"
    assert all(by_view[v]["finished_at"] is None for v in views[1:])


def test_archival_counts_are_the_tables_and_the_last_run(txn: Any) -> None:
    txn.execute("TRUNCATE daily_analytics, daily_analytics_archive, ops.run_log")
    for day in (date(2025, 1, 1), date(2025, 1, 2), date(2025, 1, 3)):
        txn.execute("INSERT INTO daily_analytics VALUES (%s, 1, 1, 1, 100, 0, 1, 0, 0, 0, 0, 0, 1, 0, 1.0)", (day,))
    for day in (date(2022, 5, 1), date(2022, 6, 30)):
        txn.execute(
            "INSERT INTO daily_analytics_archive VALUES (%s, 1, 1, 1, 100, 0, 1, 0, 0, 0, 0, 0, 1, 0, 1.0)", (day,)
        )
    details = {"cutoff": "2023-01-01", "dry_run": False, "qualified": 2, "moved": 2, "arrived": 2, "left_behind": 0}
    log_run(txn, "analytics_monthly_archival", "m1", "archive_rows", "daily_analytics", NOW, details)
    (row,) = sections(txn)["archival"].rows
    assert (row["live_rows"], row["live_oldest"]) == (3, date(2025, 1, 1))
    assert (row["archived_rows"], row["archived_oldest"], row["archived_newest"]) == (
        2,
        date(2022, 5, 1),
        date(2022, 6, 30),
    )
    assert (row["last_run_moved"], row["last_run_cutoff"], row["last_run_left_behind"]) == (2, "2023-01-01", 0)
    assert row["last_run_url"] == "/ui-base/dags/analytics_monthly_archival/runs/m1"


def test_replica_lag_is_measured_on_the_real_replica() -> None:
    section = replica_lag(load_config())
    assert section.state == "ok", section.note
    seen = {(r["replica"], r["source"]) for r in section.rows}
    assert ("analytics_db_replica", "replica") in seen
    assert any(source == "primary" for _, source in seen)  # the primary's pg_stat_replication row
    for row in section.rows:
        # Seconds are known, or the replica is replaying WAL it received (bytes outstanding) and says so.
        known = row["lag_seconds"] is not None and row["lag_seconds"] >= 0
        replaying = row["source"] == "replica" and row["lag_bytes"] > 0 and "replaying" in row["note"]
        assert known or replaying, row


def test_replica_lag_names_an_unreachable_replica(override_config) -> None:
    override_config({"replication": {"replica_connections": ["no_such_replica"]}})
    section = replica_lag(load_config())
    assert section.state == "error"
    assert "no_such_replica: unreachable" in section.note


@pytest.mark.airflow_run
def test_suite_dags_come_from_the_tag_with_their_newest_run() -> None:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils.session import create_session

    from analytics_ops.core.dag_defaults import SUITE_TAG
    from tests.conftest import ROOT
    from tests.dag_runs import test_run

    bag = DagBag(dag_folder=str(ROOT / "dags" / "analytics_stuck_work.py"))
    run = test_run(bag.get_dag("analytics_stuck_work"))
    # A DAG that is not the suite's, with a run of its own: the page must leave it out.
    other = DagBag(dag_folder=str(ROOT / "tests" / "dags" / "untagged_probe.py")).get_dag("untagged_probe")
    test_run(other)
    with create_session() as session:
        section = suite_dag_runs(session, ui_base="")
        rows = {r["dag_id"]: r for r in section.rows}
        assert "analytics_stuck_work" in rows
        shown = rows["analytics_stuck_work"]
        assert (shown["run_id"], shown["state"]) == (run.run_id, "success")
        assert shown["run_url"] == run_path("analytics_stuck_work", run.run_id)
        # Only DAGs carrying the suite's tag: one without it never shows, though it ran.
        assert "untagged_probe" not in rows
        assert SUITE_TAG not in other.tags
        # A user allowed fewer DAGs sees fewer.
        limited = suite_dag_runs(session, allowed_dag_ids={"analytics_stuck_work"})
        assert [r["dag_id"] for r in limited.rows] == ["analytics_stuck_work"]


def test_the_page_shows_moments_in_utc_whatever_zone_they_arrive_in() -> None:
    from zoneinfo import ZoneInfo

    from analytics_ops.ops_page.app import when

    kolkata = datetime(2026, 3, 10, 17, 30, tzinfo=ZoneInfo("Asia/Kolkata"))
    assert when(kolkata) == "2026-03-10 12:00 UTC"
    assert when(None) == ""
