"""The health-check DAGs against the real primary, replica, Redis and the Slack stand-in.

Each unhealthy condition is induced for real (sessions idle in a transaction, a slow query, Redis
filled past a small maxmemory, replay paused on the replica, yesterday's aggregates removed, a view
never refreshed, a stale rollup) and the task states, the digest and the stored results are read
back. Server-wide settings the tests change (Redis maxmemory and policy, replica replay) are put
back in `finally`.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from analytics_ops.core.config import ConfigError, load_config, parse_config
from analytics_ops.core.db import connect
from analytics_ops.core.run_log import record_run
from analytics_ops.health.checks_data import daily_analytics_anomalies, newest_verified_backup
from analytics_ops.health.checks_servers import redis_evicted_keys, redis_hit_rate
from analytics_ops.health.daily import DAILY_CHECKS
from analytics_ops.health.digest import compose
from analytics_ops.health.framework import CRITICAL, OK, WARN, CheckContext, CheckResult, evaluate
from analytics_ops.mv.refresh import refresh_view
from analytics_ops.usage.rollup import roll_up
from tests.conftest import PG_PASSWORD, PG_PORT, PG_USER, admin_connect, wait_for_replica
from tests.dag_runs import test_run
from tests.test_replica_lag import replay_paused, write_wal

DAILY = "analytics_health_check"
LOOKUPS = 3000  # Redis lookups the unhealthy test makes, 1 in 10 a hit: far more than other clients'
WEEKLY = "analytics_weekly_review"

BACKUPS_DDL = """
CREATE TABLE ops.backups (
    backup_id text PRIMARY KEY, kind text NOT NULL, location text NOT NULL, started_at timestamptz NOT NULL,
    finished_at timestamptz NOT NULL, size_bytes bigint, server_version text, manifest jsonb,
    verified_at timestamptz, verification jsonb, deleted_at timestamptz, dag_id text, run_id text
)
"""


def parse(dag_id: str):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder="dags").get_dag(dag_id)


def states(run) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in run.get_task_instances()}


def context(task_id: str, run_id: str = "baseline") -> CheckContext:
    return CheckContext(load_config(), DAILY, run_id, task_id, datetime.now(UTC))


def digest_of(slack, title: str) -> dict[str, Any]:
    digests = [m["payload"] for m in slack.messages if m["payload"].get("text", "").split(" ", 1)[-1].startswith(title)]
    assert len(digests) == 1, [m["payload"].get("text", "")[:80] for m in slack.messages]
    return digests[0]


def stored(db, run_id: str) -> dict[str, str]:
    rows = db.execute("SELECT check_name, status FROM ops.health_check_results WHERE run_id = %s", (run_id,))
    return dict(rows.fetchall())


@contextmanager
def backups_table(db) -> Iterator[None]:
    """ops.backups per the shared contract: the lead's migration 007 when it is there, else made here."""
    created = db.execute("SELECT to_regclass('ops.backups') IS NULL").fetchone()[0]
    if created:
        db.execute(BACKUPS_DDL)
    else:  # what the backup tests catalogued before is not this test's (each of those starts empty too)
        db.execute("TRUNCATE ops.backups")
    try:
        yield
    finally:
        if created:
            db.execute("DROP TABLE ops.backups")
        else:
            db.execute("DELETE FROM ops.backups WHERE backup_id LIKE 'test-health-%'")


def add_backup(db, backup_id: str, age: str, verified: bool, kind: str = "full") -> None:
    db.execute(
        "INSERT INTO ops.backups (backup_id, kind, location, started_at, finished_at, verified_at) "
        "VALUES (%(id)s, %(kind)s, 'file:///backups/' || %(id)s, now() - %(age)s::interval - interval '5 minutes', "
        "now() - %(age)s::interval, CASE WHEN %(verified)s THEN now() - %(age)s::interval END)",
        {"id": f"test-health-{backup_id}", "age": age, "verified": verified, "kind": kind},
    )


@pytest.fixture
def healthy(empty_tasks, redis_db):
    """Everything the daily checks look at, in a healthy state, as of now."""
    db = empty_tasks
    db.execute("TRUNCATE ops.health_check_results, ops.table_size_history, ops.dag_run_outcomes")
    db.execute("TRUNCATE processing_jobs, analytics_events_stage RESTART IDENTITY")
    db.execute("TRUNCATE usage_events, usage_rollup_hourly, usage_rollup_series, usage_rollup_watermark")
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    db.execute("INSERT INTO users (id, email, created_at) VALUES (1, 'u1@example.test', '2020-01-01')")
    db.execute("INSERT INTO daily_analytics VALUES (%s, 1, 4, 2, 50, 0, 1, 1, 1, 1, 1, 1, 2, 0, 4.5)", (yesterday,))
    # One usage event received a minute ago, rolled up: freshness_status has one series, current.
    db.execute(
        "INSERT INTO usage_events (event_id, org_id, occurred_at, received_at, model_id, latency_ms, status) "
        "VALUES (gen_random_uuid(), 'org-1', now() - interval '1 minute', now() - interval '1 minute', 'm-1', 90, "
        "'success')"
    )
    with connect() as conn:
        roll_up(conn, load_config().usage_rollup)
    now = datetime.now(UTC)
    with connect() as conn:
        for group in load_config().mv_refresh.groups.values():
            for view in group.views:
                result = refresh_view(conn, view)
                record_run(
                    conn, dag_id="analytics_mv_refresh", run_id="arranged", task_id="refresh_view",
                    subject=result.view, started_at=now, finished_at=now, details={"mode": result.mode},
                )  # fmt: skip
        for dag_id, task_id, subject in (
            ("analytics_cache_warming", "report", "redis"),
            ("analytics_monthly_archival", "archive_rows", "daily_analytics"),
        ):
            record_run(
                conn, dag_id=dag_id, run_id="arranged", task_id=task_id, subject=subject,
                started_at=now - timedelta(hours=1), finished_at=now - timedelta(hours=1), details={"dry_run": False},
            )  # fmt: skip
    # Redis's hit/miss and eviction counters are server-wide: a sample now, so the run judges only
    # the lookups and evictions of its own window, not the history of every client of the server.
    redis_hit_rate(context("check_redis_hit_rate"))
    redis_evicted_keys(context("check_redis_evictions"))
    with backups_table(db):
        add_backup(db, "fresh", "3 hours", verified=True)
        wait_for_replica()
        yield db


def test_a_healthy_stack_gives_an_all_green_digest(healthy, slack):
    db = healthy
    # The night had one alert, over since: the digest lists it after the checks (it fails no check).
    db.execute("TRUNCATE ops.alerts")
    db.execute(
        "INSERT INTO ops.alerts (fingerprint, rule, labels, severity, state, active_since, firing_since, last_seen, "
        "resolved_at, value, threshold, summary, advice) VALUES ('night', 'replica_lag', '{\"replica\": \"r1\"}', "
        "'P1', 'resolved', now() - interval '5 hours', now() - interval '5 hours', now() - interval '4 hours', "
        "now() - interval '4 hours', '95 s', '> 60 s', 'replica behind', 'look')"
    )
    try:
        run = test_run(parse(DAILY), logical_date=datetime.now(UTC))
    finally:
        db.execute("TRUNCATE ops.alerts")

    assert run.state == "success", states(run)
    assert set(states(run).values()) == {"success"}
    digest = digest_of(slack, "Daily health check")
    lines = digest["text"].splitlines()
    results = stored(db, run.run_id)
    assert len(results) >= 20 and set(results.values()) == {OK}, results
    assert lines[0] == f":white_check_mark: Daily health check: 0 critical, 0 warn, {len(results)} ok"
    alerts_at = lines.index("*Alerts in the last 24 h*: 1 fired, 0 still firing")
    assert lines[alerts_at + 1].startswith(":white_check_mark: [P1] *replica_lag{replica=r1}*: firing since ")
    assert alerts_at + 2 == len(lines) - 1  # then the link to the run
    check_lines = lines[1:alerts_at]
    assert len(check_lines) == len(results)
    assert all(line.startswith(":white_check_mark: *") for line in check_lines), check_lines
    assert "*newest_verified_backup*: full backup test-health-fresh taken 3.0 h ago" in digest["text"]
    assert "/dags/analytics_health_check/runs/" in lines[-1]
    assert digest["blocks"][0]["type"] == "header" and digest["blocks"][-1]["type"] == "context"
    assert not [t for t in slack.texts() if "failed*" in t]  # no failure alert


@contextmanager
def idle_in_transaction() -> Iterator[psycopg.Connection]:
    conn = psycopg.connect(
        host="127.0.0.1", port=PG_PORT, user=PG_USER, password=PG_PASSWORD, dbname="aops_test",
        application_name="forgotten-transaction",
    )  # fmt: skip
    conn.execute("SELECT 1")  # a transaction is open and nothing is running: idle in transaction
    try:
        yield conn
    finally:
        conn.close()


@contextmanager
def slow_query() -> Iterator[None]:
    def run() -> None:
        with psycopg.connect(
            host="127.0.0.1", port=PG_PORT, user=PG_USER, password=PG_PASSWORD, dbname="aops_test",
            application_name="slow-report", autocommit=True,
        ) as conn:  # fmt: skip
            try:
                conn.execute("SELECT pg_sleep(300)")
            except psycopg.errors.QueryCanceled:
                pass

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        with admin_connect("aops_test") as admin:
            for _ in range(100):
                if admin.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'slow-report' AND state = 'active'"
                ).fetchone()[0]:
                    break
                time.sleep(0.1)
            else:
                raise AssertionError("the slow query never showed as active in pg_stat_activity within 10 s")
        yield
    finally:
        with admin_connect("aops_test") as admin:
            admin.execute("SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = 'slow-report'")
        thread.join(timeout=30)


@contextmanager
def redis_full(redis_db) -> Iterator[None]:
    """Redis filled past a maxmemory just above what it uses now, evicting (server-wide settings,
    put back afterwards; the demo's cache keys in database 0 may be evicted too: warming rebuilds them)."""
    saved = redis_db.config_get("maxmemory*")
    try:
        redis_db.config_set("maxmemory-policy", "allkeys-lru")
        redis_db.config_set("maxmemory", str(int(redis_db.info("memory")["used_memory"]) + 4 * 1024 * 1024))
        value = b"x" * 1024
        for start in range(0, 30_000, 1_000):
            pipe = redis_db.pipeline(transaction=False)
            for n in range(start, start + 1_000):
                pipe.set(f"health-test:fill:{n}", value)
            pipe.execute()
        assert int(redis_db.info("stats")["evicted_keys"]) > 5_000
        yield
    finally:
        redis_db.config_set("maxmemory", saved["maxmemory"])
        redis_db.config_set("maxmemory-policy", saved["maxmemory-policy"])
        redis_db.flushdb()


def test_each_unhealthy_condition_shows_in_its_task_and_the_digest(healthy, redis_db, slack, override_config):
    db = healthy
    override_config(
        {
            "health_check": {
                "postgres": {
                    "idle_in_transaction_warn_after": "1s",
                    "idle_in_transaction_critical_after": "2s",
                    "long_query_warn_after": "1s",
                    "long_query_critical_after": "2s",
                },
                "replication": {
                    "lag_warn_seconds": 1,
                    "lag_critical_seconds": 2,
                    "lag_warn_bytes": 65536,
                    "lag_critical_bytes": 262144,
                },
            }
        }
    )
    # Yesterday not aggregated; one evening view never refreshed by the suite; the rollup 15 min behind.
    db.execute("DELETE FROM daily_analytics")
    db.execute("DELETE FROM ops.run_log WHERE subject = 'public.user_monthly_trends'")
    db.execute("UPDATE usage_rollup_watermark SET rolled_up_through = now() - interval '20 minutes'")
    db.execute(
        "INSERT INTO usage_events (event_id, org_id, occurred_at, received_at, model_id, latency_ms, status) "
        "VALUES (gen_random_uuid(), 'org-1', now() - interval '15 minutes', now() - interval '15 minutes', 'm-1', "
        "90, 'success')"
    )
    # The previous check's Redis counters, then lookups that mostly miss.
    redis_hit_rate(context("check_redis_hit_rate"))
    redis_evicted_keys(context("check_redis_evictions"))
    redis_db.set("health-test:present", "1")
    pipe = redis_db.pipeline(transaction=False)
    for n in range(LOOKUPS):
        pipe.get("health-test:present" if n % 10 == 0 else f"health-test:missing:{n}")
    pipe.execute()

    with idle_in_transaction(), slow_query(), redis_full(redis_db), replay_paused():
        write_wal(db)
        time.sleep(2.5)  # past every critical age above
        run = test_run(parse(DAILY), logical_date=datetime.now(UTC))
    wait_for_replica()

    got = states(run)
    assert run.state == "failed"
    for task_id in (
        "check_idle_in_transaction",
        "check_long_queries",
        "check_redis_memory",
        "check_replica_lag",
        "check_daily_analytics",
        "check_mv_refresh",
        "check_freshness",
    ):
        assert got[task_id] == "failed", (task_id, got)
    for task_id in ("check_redis_hit_rate", "check_redis_evictions", "check_connections", "check_backups"):
        assert got[task_id] == "success", (task_id, got)  # warnings (or fine): the task does not fail
    assert got["send_digest"] == "success" and got["all_checks_passed"] == "upstream_failed"

    results = stored(db, run.run_id)
    assert results["idle_in_transaction"] == results["long_running_queries"] == CRITICAL
    assert results["redis_memory"] == CRITICAL
    assert results["redis_hit_rate"] == results["redis_evicted_keys"] == WARN
    assert results["daily_analytics_present"] == results["freshness_lag"] == CRITICAL
    assert results["mv_refresh:public.user_monthly_trends"] == CRITICAL
    assert results["mv_refresh:public.user_task_stats"] == OK
    assert CRITICAL in {s for name, s in results.items() if name.startswith("replica_lag:")}
    assert results["postgres_connections"] == OK

    text = digest_of(slack, "Daily health check")["text"]
    lines = text.splitlines()
    counts = {s: list(results.values()).count(s) for s in (CRITICAL, WARN, OK)}
    assert lines[0] == (
        f":red_circle: Daily health check: {counts[CRITICAL]} critical, {counts[WARN]} warn, {counts[OK]} ok"
    )
    checks_end = next(i for i, line in enumerate(lines) if line.startswith("*Alerts in the last 24 h*"))
    marks = [line.split(" ", 1)[0] for line in lines[1:checks_end] if line.startswith(":")]  # not the alerts'
    assert marks == sorted(marks, key=[":red_circle:", ":warning:", ":white_check_mark:"].index)  # worst first
    assert "*idle_in_transaction*: 1 session(s) over 1 s, oldest" in text
    assert "forgotten-transaction" in text
    assert "*long_running_queries*: 1 running over 1 s, longest" in text and "slow-report" in text
    assert f"*daily_analytics_present*: 0 rows for {datetime.now(UTC).date() - timedelta(days=1)}" in text
    assert "*mv_refresh:public.user_monthly_trends*: never refreshed by the suite" in text
    assert "*freshness_lag*: 15 min (org-1/m-1, worst of 1)" in text
    # The counters are the server's: other clients' lookups may add to ours, never take from them.
    hit_rate = re.search(r"\*redis_hit_rate\*: ([\d.]+)% over the last", text)
    assert hit_rate and float(hit_rate[1]) < load_config().health_check.redis.hit_rate_warn_pct, text
    (detail,) = db.execute(
        "SELECT detail FROM ops.health_check_results WHERE run_id = %s AND check_name = 'redis_hit_rate'",
        (run.run_id,),
    ).fetchone()
    hits, misses = map(int, re.fullmatch(r"(\d+) hits, (\d+) misses", detail).groups())
    assert hits >= LOOKUPS // 10 and misses >= LOOKUPS - LOOKUPS // 10, detail
    assert "replay paused" in text

    alerts = [t for t in slack.texts() if "[P1] analytics_health_check.check_" in t]
    assert len(alerts) == 7, alerts
    memory_alert = next(t for t in alerts if "check_redis_memory failed" in t)
    assert "HealthCheckCritical: redis_memory critical: redis_memory is " in memory_alert
    assert "(threshold: warn at 75%, critical at 90% of maxmemory)" in memory_alert
    assert "What to do: runbook 001 Cache Monitoring" in memory_alert


def test_weekly_review_compares_with_last_week_and_lists_slow_statements(healthy, slack):
    db = healthy
    daily = test_run(parse(DAILY), logical_date=datetime.now(UTC))  # this week's hit-rate sample
    assert daily.state == "success", states(daily)
    # Last week's snapshot: the tasks table was a third of its size; one statement took over a second.
    db.execute("INSERT INTO tasks (user_id, title, status, priority, created_at) "
               "SELECT 1, repeat('t', 200), 'todo', 'low', now() FROM generate_series(1, 60000)")  # fmt: skip
    tasks_bytes = db.execute("SELECT pg_total_relation_size('public.tasks')").fetchone()[0]
    db.execute(
        "INSERT INTO ops.table_size_history VALUES (now() - interval '8 days', 'last-week', 'public', 'tasks', "
        "'table', 'tasks', %s)",
        (tasks_bytes // 3,),
    )
    db.execute("SELECT pg_sleep(1.2)")

    run = test_run(parse(WEEKLY), logical_date=datetime.now(UTC))

    assert run.state == "success", states(run)
    results = stored(db, run.run_id)
    assert results["sizes:tables"] == WARN and results["slow_statements"] == WARN
    assert results["cache_hit_week:postgres"] in (OK, WARN)
    text = digest_of(slack, "Weekly review")["text"]
    growth = re.search(r"public\.tasks [\d.]+ [kMG]?B \(\+([\d.]+)%\)", text)
    assert growth and 190 <= float(growth[1]) <= 210, text
    assert "SELECT pg_sleep($1)" in text
    assert db.execute("SELECT count(*) FROM ops.table_size_history WHERE run_id = %s", (run.run_id,)).fetchone()[0]


def test_backup_check_before_and_after_the_backups_table_exists(db):
    exists = db.execute("SELECT to_regclass('ops.backups') IS NOT NULL").fetchone()[0]
    if not exists:
        [result] = newest_verified_backup(context("check_backups"))
        assert (result.status, result.value) == (WARN, "backups not set up")
    with backups_table(db):
        db.execute("UPDATE ops.backups SET deleted_at = now() WHERE deleted_at IS NULL")  # only ours count
        add_backup(db, "unverified", "1 hour", verified=False)
        [result] = newest_verified_backup(context("check_backups"))
        assert (result.status, result.value) == (CRITICAL, "no verified backup")
        add_backup(db, "old", "30 hours", verified=True)
        [result] = newest_verified_backup(context("check_backups"))
        assert result.status == WARN and result.value == "full backup test-health-old taken 30.0 h ago"
        add_backup(db, "recent", "2 hours", verified=True)
        [result] = newest_verified_backup(context("check_backups"))
        assert result.status == OK and "test-health-recent" in result.value


def test_each_backup_kind_is_judged_on_its_own_schedule(db):
    """A fresh weekly base backup must not hide a daily full dump that stopped."""
    with backups_table(db):
        add_backup(db, "old-full", "60 hours", verified=True)
        add_backup(db, "fresh-base", "1 hour", verified=True, kind="base")
        # Through the framework, as the DAG's task runs it (results are named after their check).
        [check] = [c for c in DAILY_CHECKS if c.task_id == "check_backups"]
        full, base = evaluate(check, context("check_backups"))
        assert (full.check_name, full.status) == ("newest_verified_backup", CRITICAL)
        assert full.value == "full backup test-health-old-full taken 60.0 h ago"
        assert (base.check_name, base.status) == ("newest_verified_backup:base", OK)
        db.execute("UPDATE ops.backups SET deleted_at = now() WHERE backup_id = 'test-health-fresh-base'")
        add_backup(db, "week-old-base", "10 days", verified=True, kind="base")
        _, base = newest_verified_backup(context("check_backups"))
        assert base.status == WARN and "test-health-week-old-base" in base.value


def test_completion_rates_outside_0_to_100_are_critical(empty_tasks):
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    empty_tasks.execute(
        "INSERT INTO daily_analytics SELECT %s, u, 1, 1, CASE WHEN u IN (3, 7) THEN 150 ELSE 100 END, "
        "0, 1, 0, 0, 0, 0, 0, 1, 0, 1 FROM generate_series(1, 10) AS u",
        (yesterday,),
    )
    [result] = daily_analytics_anomalies(context("check_daily_analytics_anomalies"))
    assert result.status == CRITICAL and result.numeric_value == 2 and result.detail == "users 3, 7"


def test_digest_sorts_worst_first_and_fits_slack_limits():
    results = [CheckResult(f"check_{n:03}", [OK, WARN, CRITICAL][n % 3], "v" * 200, "t") for n in range(120)]
    text, blocks = compose("Daily health check", results, "http://airflow/dags/x/runs/r")
    marks = [line.split(" ", 1)[0] for line in text.splitlines()[1:-1]]
    assert marks == [":red_circle:"] * 40 + [":warning:"] * 40 + [":white_check_mark:"] * 40
    assert len(blocks) <= 50 and all(len(b["text"]["text"]) <= 3000 for b in blocks if b["type"] == "section")
    assert blocks[-1]["elements"][0]["text"] == "<http://airflow/dags/x/runs/r|Open the run in Airflow>"


def test_thresholds_in_the_wrong_order_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="health_check"):
        parse_config("health_check:\n  redis: {memory_warn_pct: 95, memory_critical_pct: 90}\n", tmp_path / "c.yaml")
