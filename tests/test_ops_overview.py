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
from psycopg import sql

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


def add_alert(conn: Any, rule: str, state: str, severity: str, *, since: datetime, **columns: Any) -> None:
    """One episode in ops.alerts, as the evaluator writes it (firing ones fired at `since`)."""
    row = {
        "fingerprint": f"{rule}-{len(columns)}-{since.isoformat()}",
        "rule": rule,
        "labels": "{}",
        "severity": severity,
        "state": state,
        "active_since": since - timedelta(minutes=5),
        "firing_since": since if state != "pending" else None,
        "last_seen": NOW,
        "value": "1",
        "threshold": "0",
        "summary": f"{rule} summary",
        "advice": "look",
        **columns,
    }
    conn.execute(
        sql.SQL("INSERT INTO ops.alerts ({}) VALUES ({})").format(
            sql.SQL(", ").join(map(sql.Identifier, row)), sql.SQL(", ").join(map(sql.Placeholder, row))
        ),
        row,
    )


@pytest.fixture
def alert_tables(txn: Any) -> Any:
    """The alert evaluator's tables, emptied (in the rolled-back transaction)."""
    txn.execute("TRUNCATE ops.alerts, ops.alert_notifications, ops.alert_rule_failures, ops.alert_evaluator_heartbeat")
    return txn


def test_missing_alert_tables_show_as_not_set_up(txn: Any) -> None:
    txn.execute("DROP TABLE ops.alerts CASCADE")
    got = sections(txn)
    assert got["alerts"].state == "not_set_up" and "ops.alerts" in got["alerts"].note
    assert got["archival"].state == "ok" and got["view_refreshes"].state == "ok"


def test_alerts_are_not_set_up_until_every_table_of_their_migration_is_there(txn: Any) -> None:
    txn.execute("DROP TABLE ops.alert_evaluator_heartbeat")
    assert sections(txn)["alerts"].state == "not_set_up"


def test_firing_and_pending_alerts_with_the_evaluator_heartbeat(alert_tables: Any) -> None:
    txn = alert_tables
    add_alert(txn, "replica_lag", "pending", "P1", since=NOW - timedelta(minutes=1))
    add_alert(
        txn, "dag_failing", "firing", "P2", since=NOW - timedelta(minutes=40),
        labels='{"dag_id": "analytics_mv_refresh"}', escalated_at=NOW - timedelta(minutes=10), value="3 failed runs",
    )  # fmt: skip
    add_alert(txn, "redis_memory", "firing", "P3", since=NOW - timedelta(hours=2), silenced_by="redis-upgrade")
    add_alert(txn, "connections", "firing", "P2", since=NOW - timedelta(minutes=3))
    add_alert(txn, "long_queries", "firing", "P1", since=NOW - timedelta(minutes=2))
    add_alert(
        txn, "freshness", "resolved", "P1", since=NOW - timedelta(hours=3), resolved_at=NOW - timedelta(hours=1)
    )  # history: not on the page
    txn.execute(
        "INSERT INTO ops.alert_evaluator_heartbeat (evaluated_at, duration_ms, rules, firing, rule_failures) "
        "VALUES (%s, 35.4, 14, 3, 0)",
        (NOW - timedelta(seconds=20),),
    )
    for minutes_ago, delivered in ((5, False), (50, False), (70, False), (10, True)):
        txn.execute(
            "INSERT INTO ops.alert_notifications (fingerprint, rule, kind, severity, connection, sent_at, delivered) "
            "VALUES ('f', 'dag_failing', 'firing', 'P2', 'slack_ops', %s, %s)",
            (NOW - timedelta(minutes=minutes_ago), delivered),
        )
    for minutes_ago in (1, 30, 59, 61):
        txn.execute(
            "INSERT INTO ops.alert_rule_failures (rule_id, rule_name, failed_at, error) VALUES (7, 'r', %s, 'boom')",
            (NOW - timedelta(minutes=minutes_ago),),
        )

    section = sections(txn)["alerts"]
    assert section.state == "ok", section.note
    # Firing first, the most severe first (as it stands now, escalated or not), then the oldest.
    assert [(r["rule"], r["state"], r["shown_severity"]) for r in section.rows] == [
        ("dag_failing", "firing", "P1"),  # a P2, escalated: a P1 now, and the older one
        ("long_queries", "firing", "P1"),
        ("connections", "firing", "P2"),
        ("redis_memory", "firing", "P3"),
        ("replica_lag", "pending", "P1"),
    ]
    escalated, _, plain, silenced, pending = section.rows
    assert (escalated["severity"], escalated["escalated"], escalated["value"]) == ("P2", True, "3 failed runs")
    assert escalated["labels_text"] == "dag_id=analytics_mv_refresh"
    assert (escalated["since"], escalated["age_seconds"]) == (NOW - timedelta(minutes=40), 40 * 60)
    assert (plain["escalated"], plain["shown_severity"], plain["silenced_by"]) == (False, "P2", None)
    assert silenced["silenced_by"] == "redis-upgrade"
    assert (pending["since"], pending["age_seconds"]) == (NOW - timedelta(minutes=6), 6 * 60)  # active since
    assert section.note == (
        "last evaluation 20 s ago, 14 rules, 35 ms; in the last hour 2 undelivered notifications, "
        "3 product-rule failures"
    )
    facts = section.facts
    assert (facts["rules"], facts["age_seconds"], facts["stale"]) == (14, 20, False)
    assert (facts["undelivered_last_hour"], facts["rule_failures_last_hour"]) == (2, 3)


def test_an_evaluator_that_never_ran_or_stopped_is_said(alert_tables: Any) -> None:
    section = sections(alert_tables)["alerts"]
    assert (section.state, section.rows, section.facts["stale"]) == ("ok", [], True)
    assert section.note == (
        "nothing firing or pending; the evaluator has not run yet; "
        "in the last hour 0 undelivered notifications, 0 product-rule failures"
    )
    alert_tables.execute(
        "INSERT INTO ops.alert_evaluator_heartbeat (evaluated_at, duration_ms, rules, firing, rule_failures) "
        "VALUES (%s, 12, 14, 0, 0)",
        (NOW - timedelta(minutes=6),),
    )
    section = sections(alert_tables)["alerts"]
    assert section.facts["stale"] is True
    assert "last evaluation 6 min ago, 14 rules, 12 ms (it runs every minute: is analytics_alert_evaluator paused" in (
        section.note
    )


def test_the_page_and_its_json_show_the_alerts_section(alert_tables: Any) -> None:
    from analytics_ops.ops_page.app import _json_ready, _render
    from analytics_ops.ops_page.overview import Overview, Section

    def overview(got: dict) -> Overview:
        return Overview(generated_at=NOW, dags=Section(), replica_lag=Section(), **got)

    def page(got: dict) -> str:
        return _render(overview(got))

    add_alert(
        alert_tables, "dag_failing", "firing", "P2", since=NOW - timedelta(minutes=40),
        labels='{"dag_id": "analytics_mv_refresh"}', escalated_at=NOW - timedelta(minutes=10), silenced_by="<s>",
    )  # fmt: skip
    alert_tables.execute(
        "INSERT INTO ops.alert_notifications (fingerprint, rule, kind, severity, connection, sent_at, delivered) "
        "VALUES ('f', 'dag_failing', 'firing', 'P2', 'slack_ops', %s, FALSE)",
        (NOW - timedelta(minutes=5),),
    )
    html = page(sections(alert_tables))
    row = html[html.index('<tr data-alert="dag_failing"') :]
    row = row[: row.index("</tr>")]
    assert 'P1 <span class="badge">escalated from P2 2026-03-10 11:50 UTC</span>' in row
    assert "dag_id=analytics_mv_refresh" in row and "2026-03-10 11:20 UTC" in row and "40 min" in row
    assert "&lt;s&gt;" in row  # escaped
    attention = html[html.index('data-testid="alerts-attention"') :]
    assert "evaluator not running" in attention and "1 undelivered in the last hour" in attention
    shown = json.loads(json.dumps(_json_ready(overview(sections(alert_tables)).as_dict())))["alerts"]
    assert (shown["state"], shown["facts"]["undelivered_last_hour"], shown["facts"]["evaluated_at"]) == ("ok", 1, None)
    (alert,) = shown["rows"]
    assert (alert["labels"], alert["shown_severity"]) == ({"dag_id": "analytics_mv_refresh"}, "P1")
    assert datetime.fromisoformat(alert["since"]) == NOW - timedelta(minutes=40)  # in the session's zone

    alert_tables.execute("DROP TABLE ops.alerts CASCADE")
    html = page(sections(alert_tables))
    alerts = html[html.index('data-section="alerts"') : html.index('data-section="dags"')]
    assert 'badge s-not_set_up">not set up' in alerts and "ops.alerts does not exist yet" in alerts
    assert "alerts-attention" not in alerts


def test_an_unreachable_primary_is_the_error_of_every_database_section(monkeypatch) -> None:
    import socket
    from dataclasses import fields

    from analytics_ops.ops_page.overview import Overview, gather_database_sections

    with socket.socket() as sock:  # a loopback port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("AIRFLOW_CONN_ANALYTICS_DB", f'{{"conn_type": "postgres", "host": "127.0.0.1", "port": {port}}}')
    got = gather_database_sections(load_config(), now=NOW)
    # Every section the page reads from the primary, the alerts included, says why it is empty.
    assert set(got) == {f.name for f in fields(Overview)} - {"generated_at", "dags", "replica_lag"}
    assert {s.state for s in got.values()} == {"error"}
    assert all("could not be read" in s.note and str(port) in s.note for s in got.values())


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
