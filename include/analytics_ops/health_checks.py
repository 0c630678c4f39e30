"""The morning routine as checks (runbooks 000-004): each measures one thing and grades it.

A check is a function of a `CheckContext` returning one `CheckResult` per measured item (most
measure one; replica lag and materialized views measure one per replica / view). Each result says
`ok`, `warn` or `critical`, the measured value and the threshold it was held against, both human
readable, plus the number behind the value so trends can be queried from
`ops.health_check_results`.

`run_check` is what a check task does: measure (a check that cannot measure, e.g. because the server
is down, is critical, not an error), keep the results (XCom for the digest, the results table for
trends), print them, and fail the task when one is critical (`HealthCheckCritical`: no retries, the
measurement is the answer; the suite's failure alert then goes out at the DAG's severity).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from airflow.sdk.exceptions import AirflowFailException

from analytics_ops.core.config import AgeLimits, SuiteConfig, load_config

log = logging.getLogger(__name__)

OK, WARN, CRITICAL = "ok", "warn", "critical"
STATUS_RANK = {OK: 0, WARN: 1, CRITICAL: 2}
RESULTS_KEY = "health_results"


class HealthCheckCritical(AirflowFailException):
    """A check measured something critical: the task fails at once (a retry would measure the same)."""


@dataclass(frozen=True)
class CheckResult:
    check_name: str
    status: str
    value: str
    threshold: str
    numeric_value: float | None = None
    detail: str = ""

    def line(self) -> str:
        text = f"[{self.status}] {self.check_name}: {self.value} (threshold: {self.threshold})"
        return f"{text}; {self.detail}" if self.detail else text


@dataclass(frozen=True)
class Check:
    task_id: str
    name: str  # results are `name` or `name:<item>`
    measure: Callable[[CheckContext], list[CheckResult]]
    advice: str  # what the on-call does when it is critical


@dataclass
class CheckContext:
    config: SuiteConfig
    dag_id: str
    run_id: str
    task_id: str
    as_of: datetime  # the run's logical date: "yesterday" is the day before it
    checked_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @contextmanager
    def primary(self, conn_id: str | None = None) -> Iterator[Any]:
        from analytics_ops.core.db import connect

        timeout = self.config.health_check.statement_timeout
        with connect(
            conn_id or self.config.connections.primary,
            application_name=f"analytics-ops:{self.dag_id}.{self.task_id}",
            statement_timeout=timeout,
            lock_timeout=min(timeout, self.config.database.lock_timeout),
            connect_timeout=10,
        ) as conn:
            yield conn

    def redis(self) -> Any:
        from analytics_ops.core.redis import redis_client

        return redis_client(self.config.connections.redis)

    @property
    def yesterday(self) -> date:
        return self.as_of.astimezone(UTC).date() - timedelta(days=1)


# --- grading and wording -------------------------------------------------------------------------


def grade_above(value: float, warn: float, critical: float) -> str:
    """Higher is worse: at or over `critical` is critical, at or over `warn` a warning."""
    if value >= critical:
        return CRITICAL
    return WARN if value >= warn else OK


def grade_below(value: float, warn: float, critical: float) -> str:
    """Lower is worse: under `critical` is critical, under `warn` a warning."""
    if value < critical:
        return CRITICAL
    return WARN if value < warn else OK


def worst(statuses: list[str]) -> str:
    return max(statuses, key=STATUS_RANK.__getitem__, default=OK)


def human_bytes(n: float) -> str:
    size = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(size) < 1024 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def human_duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 259200:
        return f"{seconds / 3600:.0f} h" if seconds % 3600 == 0 else f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def _d(value: timedelta) -> str:
    return human_duration(value.total_seconds())


def _sessions(rows: list[tuple], limit: int = 5) -> str:
    shown = [f"pid {pid} {user or '?'}@{db or '?'} ({app or 'no application_name'}, {human_duration(s)})"
             for pid, db, user, app, s in rows[:limit]]  # fmt: skip
    more = f" and {len(rows) - limit} more" if len(rows) > limit else ""
    return "; ".join(shown) + more


# --- Postgres --------------------------------------------------------------------------------------


def postgres_reachable(ctx: CheckContext) -> list[CheckResult]:
    import time

    started = time.perf_counter()
    with ctx.primary() as conn:
        version = conn.execute("SELECT current_setting('server_version')").fetchone()[0]
    ms = (time.perf_counter() - started) * 1000
    return [
        CheckResult("postgres_reachable", OK, f"answered in {ms:.0f} ms", "must answer", ms, f"PostgreSQL {version}")
    ]


def postgres_connections(ctx: CheckContext) -> list[CheckResult]:
    from analytics_ops.core.db import sql_file

    settings = ctx.config.health_check.postgres
    with ctx.primary() as conn:
        used, maximum = conn.execute(sql_file("health/connections")).fetchone()
    pct = 100.0 * used / maximum
    return [
        CheckResult(
            "postgres_connections",
            grade_above(pct, settings.connections_warn_pct, settings.connections_critical_pct),
            f"{used} of {maximum} ({pct:.0f}%)",
            f"warn at {settings.connections_warn_pct:g}%, critical at {settings.connections_critical_pct:g}%",
            round(pct, 1),
        )
    ]


def idle_in_transaction(ctx: CheckContext) -> list[CheckResult]:
    from analytics_ops.core.db import sql_file

    settings = ctx.config.health_check.postgres
    with ctx.primary() as conn:
        rows = conn.execute(
            sql_file("health/idle_in_transaction"), {"min_age": settings.idle_in_transaction_warn_after}
        ).fetchall()
    oldest = max((r[4] for r in rows), default=0.0)
    status = OK
    if rows:
        status = CRITICAL if oldest >= settings.idle_in_transaction_critical_after.total_seconds() else WARN
    value = f"{len(rows)} session(s) over {_d(settings.idle_in_transaction_warn_after)}"
    if rows:
        value += f", oldest {human_duration(oldest)}"
    return [
        CheckResult(
            "idle_in_transaction",
            status,
            value,
            f"warn over {_d(settings.idle_in_transaction_warn_after)}, "
            f"critical over {_d(settings.idle_in_transaction_critical_after)}",
            float(len(rows)),
            _sessions(rows),
        )
    ]


def long_running_queries(ctx: CheckContext) -> list[CheckResult]:
    from analytics_ops.core.db import sql_file

    settings = ctx.config.health_check.postgres
    with ctx.primary() as conn:
        rows = conn.execute(sql_file("health/long_queries"), {"min_age": settings.long_query_warn_after}).fetchall()
    longest = max((r[4] for r in rows), default=0.0)
    status = OK
    if rows:
        status = CRITICAL if longest >= settings.long_query_critical_after.total_seconds() else WARN
    value = f"{len(rows)} running over {_d(settings.long_query_warn_after)}"
    if rows:
        value += f", longest {human_duration(longest)}"
    return [
        CheckResult(
            "long_running_queries",
            status,
            value,
            f"warn over {_d(settings.long_query_warn_after)}, critical over {_d(settings.long_query_critical_after)}",
            float(len(rows)),
            _sessions(rows),
        )
    ]


def buffer_cache_hit_ratio(ctx: CheckContext) -> list[CheckResult]:
    from analytics_ops.core.db import sql_file

    settings = ctx.config.health_check.postgres
    with ctx.primary() as conn:
        hits, reads, reset = conn.execute(sql_file("health/buffer_cache")).fetchone()
    threshold = (
        f"warn under {settings.buffer_cache_hit_warn_pct:g}%, "
        f"critical under {settings.buffer_cache_hit_critical_pct:g}%"
    )
    since = f"since {reset.isoformat(timespec='minutes')}" if reset else "since the server started"
    total = hits + reads
    if total < settings.buffer_cache_min_blocks:
        value = f"{total} block accesses {since}: too few to judge"
        return [CheckResult("buffer_cache_hit_ratio", OK, value, threshold, None)]
    pct = 100.0 * hits / total
    return [
        CheckResult(
            "buffer_cache_hit_ratio",
            grade_below(pct, settings.buffer_cache_hit_warn_pct, settings.buffer_cache_hit_critical_pct),
            f"{pct:.2f}% {since}",
            threshold,
            round(pct, 3),
            f"{hits} hits, {reads} reads",
        )
    ]


# --- replication -----------------------------------------------------------------------------------


def replica_lag(ctx: CheckContext) -> list[CheckResult]:
    """Each replica's lag in seconds and bytes, from the primary's view and each replica's own."""
    from analytics_ops.core.db import sql_file
    from analytics_ops.core.errors import error_first_line
    from analytics_ops.replication.lag import lag_from_replica, lags_from_primary

    settings = ctx.config.health_check.replication
    threshold = (
        f"warn over {settings.lag_warn_seconds:g} s or {human_bytes(settings.lag_warn_bytes)}, "
        f"critical over {settings.lag_critical_seconds:g} s or {human_bytes(settings.lag_critical_bytes)}"
    )
    with ctx.primary() as conn:
        lags = lags_from_primary(conn.execute(sql_file("replication/primary_lag")).fetchall())
    results = []
    for conn_id in ctx.config.replication.replica_connections:
        try:
            with ctx.primary(conn_id) as conn:
                lags.append(lag_from_replica(conn_id, conn.execute(sql_file("replication/replica_lag")).fetchone()))
        except Exception as exc:  # one unreachable replica is a result, not the end of the check
            results.append(
                CheckResult(f"replica_lag:{conn_id}", CRITICAL, "unreachable", threshold, None, error_first_line(exc))
            )
    for lag in lags:
        name = f"replica_lag:{lag.replica} ({lag.source} view)"
        if lag.lag_seconds is None and lag.lag_bytes is None:
            results.append(CheckResult(name, CRITICAL, "lag unknown", threshold, None, lag.note))
            continue
        statuses = []
        if lag.lag_seconds is not None:
            statuses.append(grade_above(lag.lag_seconds, settings.lag_warn_seconds, settings.lag_critical_seconds))
        if lag.lag_bytes is not None:
            statuses.append(grade_above(lag.lag_bytes, settings.lag_warn_bytes, settings.lag_critical_bytes))
        seconds = "? s" if lag.lag_seconds is None else f"{lag.lag_seconds:.1f} s"
        size = "?" if lag.lag_bytes is None else human_bytes(lag.lag_bytes)
        results.append(CheckResult(name, worst(statuses), f"{seconds}, {size}", threshold, lag.lag_seconds, lag.note))
    if not results:
        fail = ctx.config.replication.when_no_replica == "fail"
        results.append(
            CheckResult(
                "replica_lag",
                CRITICAL if fail else OK,
                "no streaming replica attached",
                f"replication.when_no_replica: {ctx.config.replication.when_no_replica}",
            )
        )
    return results


def replication_slots(ctx: CheckContext) -> list[CheckResult]:
    from analytics_ops.core.db import sql_file

    settings = ctx.config.health_check.replication
    threshold = (
        f"warn at {human_bytes(settings.slot_retained_warn_bytes)} retained or inactive, "
        f"critical at {human_bytes(settings.slot_retained_critical_bytes)} or WAL lost"
    )
    with ctx.primary() as conn:
        rows = conn.execute(sql_file("health/replication_slots")).fetchall()
    if not rows:
        return [CheckResult("replication_slot", OK, "no replication slots", threshold)]
    results = []
    # The backup DAG's slot is read by pg_receivewal a few seconds every 6 hours: inactive is its
    # normal state, so only the WAL it holds (and "lost") judge it.
    backup_slot = ctx.config.backups.wal_slot
    for slot, kind, active, wal_status, retained in rows:
        retained = retained or 0
        status = grade_above(retained, settings.slot_retained_warn_bytes, settings.slot_retained_critical_bytes)
        notes = [f"{kind} slot", "active" if active else "inactive"]
        if slot == backup_slot:
            notes.append("read by analytics_backup_incremental every 6 h")
        if wal_status:
            notes.append(f"wal_status {wal_status}")
        if wal_status == "lost":
            status = CRITICAL
        elif not active and slot != backup_slot:
            status = worst([status, WARN])
        results.append(
            CheckResult(
                f"replication_slot:{slot}",
                status,
                f"{human_bytes(retained)} retained",
                threshold,
                float(retained),
                ", ".join(notes),
            )
        )
    return results


# --- Redis -----------------------------------------------------------------------------------------


def redis_reachable(ctx: CheckContext) -> list[CheckResult]:
    import time

    client = ctx.redis()
    started = time.perf_counter()
    client.ping()
    ms = (time.perf_counter() - started) * 1000
    version = client.info("server").get("redis_version", "?")
    return [CheckResult("redis_reachable", OK, f"PONG in {ms:.1f} ms", "must answer PING", ms, f"Redis {version}")]


def redis_memory(ctx: CheckContext) -> list[CheckResult]:
    from analytics_ops.core.redis import redis_health

    settings = ctx.config.health_check.redis
    health = redis_health(ctx.redis())
    threshold = f"warn at {settings.memory_warn_pct:g}%, critical at {settings.memory_critical_pct:g}% of maxmemory"
    used = human_bytes(health["used_memory_bytes"])
    if not health["maxmemory_bytes"]:
        return [
            CheckResult(
                "redis_memory",
                WARN,
                f"{used} used, no maxmemory set",
                threshold,
                None,
                "without maxmemory Redis grows until the host runs out of memory",
            )
        ]
    pct = health["memory_used_pct"]
    return [
        CheckResult(
            "redis_memory",
            grade_above(pct, settings.memory_warn_pct, settings.memory_critical_pct),
            f"{used} of {human_bytes(health['maxmemory_bytes'])} ({pct:.0f}%)",
            threshold,
            pct,
        )
    ]


def _redis_counters(ctx: CheckContext) -> tuple[dict[str, Any], dict[str, Any] | None, float | None]:
    """Redis's cumulative counters now, the ones this check kept at its previous run, and that run's
    age in seconds. The counters are kept in ops.run_log, so the next run can take the difference."""
    from analytics_ops.core.db import sql_file
    from analytics_ops.core.run_log import record_run

    stats, server = ctx.redis().info("stats"), ctx.redis().info("server")
    now = {
        "keyspace_hits": int(stats["keyspace_hits"]),
        "keyspace_misses": int(stats["keyspace_misses"]),
        "evicted_keys": int(stats.get("evicted_keys", 0)),
        "uptime_seconds": int(server.get("uptime_in_seconds", 0)),
        "redis_run_id": server.get("run_id"),
    }
    with ctx.primary() as conn:
        row = conn.execute(
            sql_file("health/previous_sample"), {"dag_id": ctx.dag_id, "task_id": ctx.task_id, "run_id": ctx.run_id}
        ).fetchone()
        record_run(
            conn,
            dag_id=ctx.dag_id,
            run_id=ctx.run_id,
            task_id=ctx.task_id,
            subject="redis counters",
            started_at=ctx.checked_at,
            finished_at=datetime.now(UTC),
            details=now,
        )
    if row is None:
        return now, None, None
    previous, age = row
    # Counters restart from zero with the server (or CONFIG RESETSTAT): then only "now" is known.
    if previous.get("redis_run_id") != now["redis_run_id"] or any(
        now[k] < previous.get(k, 0) for k in ("keyspace_hits", "keyspace_misses", "evicted_keys")
    ):
        return now, None, age
    return now, previous, age


def redis_hit_rate(ctx: CheckContext) -> list[CheckResult]:
    settings = ctx.config.health_check.redis
    now, previous, age = _redis_counters(ctx)
    hits, misses = now["keyspace_hits"], now["keyspace_misses"]
    window = "since Redis's statistics were reset"
    if previous is not None:
        hits -= previous["keyspace_hits"]
        misses -= previous["keyspace_misses"]
        window = f"over the last {human_duration(age or 0)}"
    lookups = hits + misses
    threshold = f"warn under {settings.hit_rate_warn_pct:g}% (with at least {settings.hit_rate_min_lookups} lookups)"
    if lookups < settings.hit_rate_min_lookups:
        return [CheckResult("redis_hit_rate", OK, f"{lookups} lookups {window}: too few to judge", threshold)]
    pct = 100.0 * hits / lookups
    return [
        CheckResult(
            "redis_hit_rate",
            WARN if pct < settings.hit_rate_warn_pct else OK,
            f"{pct:.1f}% {window}",
            threshold,
            round(pct, 2),
            f"{hits} hits, {misses} misses",
        )
    ]


def redis_evicted_keys(ctx: CheckContext) -> list[CheckResult]:
    settings = ctx.config.health_check.redis
    now, previous, age = _redis_counters(ctx)
    if previous is not None:
        evicted, seconds, window = now["evicted_keys"] - previous["evicted_keys"], age or 0, "since the last check"
    else:
        evicted, seconds, window = now["evicted_keys"], now["uptime_seconds"], "since Redis's statistics were reset"
    per_hour = evicted / max(seconds / 3600, 1.0)  # a window under an hour counts as one hour
    return [
        CheckResult(
            "redis_evicted_keys",
            WARN if per_hour > settings.evicted_keys_warn_per_hour else OK,
            f"{evicted} evicted {window} ({per_hour:.0f}/h)",
            f"warn over {settings.evicted_keys_warn_per_hour:g}/h",
            round(per_hour, 1),
        )
    ]


# --- data -----------------------------------------------------------------------------------------


def daily_analytics_present(ctx: CheckContext) -> list[CheckResult]:
    from analytics_ops.core.db import sql_file

    with ctx.primary() as conn:
        rows, _, _ = conn.execute(sql_file("health/daily_analytics_day"), {"day": ctx.yesterday}).fetchone()
    return [
        CheckResult(
            "daily_analytics_present",
            OK if rows else CRITICAL,
            f"{rows} rows for {ctx.yesterday}",
            "critical with no rows for yesterday",
            float(rows),
        )
    ]


def daily_analytics_anomalies(ctx: CheckContext) -> list[CheckResult]:
    from analytics_ops.core.db import sql_file

    with ctx.primary() as conn:
        _, anomalies, users = conn.execute(sql_file("health/daily_analytics_day"), {"day": ctx.yesterday}).fetchone()
    return [
        CheckResult(
            "daily_analytics_anomalies",
            CRITICAL if anomalies else OK,
            f"{anomalies} rows of {ctx.yesterday} with completion_rate outside 0-100",
            "critical at 1",
            float(anomalies),
            f"users {', '.join(map(str, users))}{' ...' if anomalies > len(users) else ''}" if anomalies else "",
        )
    ]


def freshness_lag(ctx: CheckContext) -> list[CheckResult]:
    from analytics_ops.core.db import sql_file

    settings = ctx.config.health_check.data
    threshold = f"warn over {_d(settings.freshness_warn_after)}, critical over {_d(settings.freshness_critical_after)}"
    with ctx.primary() as conn:
        rows = conn.execute(sql_file("health/freshness")).fetchall()
    if not rows:
        return [CheckResult("freshness_lag", OK, "no models in freshness_status", threshold)]
    model, never, lag = rows[0]
    if never:
        return [CheckResult("freshness_lag", CRITICAL, f"{model}: events but never rolled up", threshold)]
    status = grade_above(
        lag, settings.freshness_warn_after.total_seconds(), settings.freshness_critical_after.total_seconds()
    )
    return [
        CheckResult("freshness_lag", status, f"{human_duration(lag)} ({model}, worst of {len(rows)})", threshold, lag)
    ]


def staging_backlog(ctx: CheckContext) -> list[CheckResult]:
    from analytics_ops.core.db import sql_file

    settings = ctx.config.health_check.data
    with ctx.primary() as conn:
        waiting, oldest = conn.execute(sql_file("health/staging_backlog")).fetchone()
    return [
        CheckResult(
            "staging_backlog",
            grade_above(waiting, settings.staging_backlog_warn_rows, settings.staging_backlog_critical_rows),
            f"{waiting} rows waiting",
            f"warn at {settings.staging_backlog_warn_rows}, critical at {settings.staging_backlog_critical_rows}",
            float(waiting),
            f"oldest waiting {human_duration(oldest)}" if waiting else "",
        )
    ]


def stuck_jobs(ctx: CheckContext) -> list[CheckResult]:
    from analytics_ops.core.db import sql_file

    stuck_after = ctx.config.stuck_work.stuck_after
    critical_after = ctx.config.health_check.data.stuck_jobs_critical_after
    with ctx.primary() as conn:
        rows = conn.execute(sql_file("health/stuck_jobs"), {"stuck_after": stuck_after}).fetchall()
    oldest = max((r[2] for r in rows), default=0.0)
    status = OK if not rows else (CRITICAL if oldest >= critical_after.total_seconds() else WARN)
    value = f"{len(rows)} job(s) processing over {_d(stuck_after)}" + (
        f", oldest {human_duration(oldest)}" if rows else ""
    )
    detail = ", ".join(f"job {job_id} ({job_type})" for job_id, job_type, _ in rows[:5])
    return [
        CheckResult(
            "stuck_jobs",
            status,
            value,
            f"warn over {_d(stuck_after)}, critical over {_d(critical_after)}",
            float(len(rows)),
            detail,
        )
    ]


# --- the suite's own jobs --------------------------------------------------------------------------


def _age_result(
    name: str, age_seconds: float | None, limits: AgeLimits, what: str, never: str, never_status: str = CRITICAL
) -> CheckResult:
    threshold = f"warn over {_d(limits.warn_after)}, critical over {_d(limits.critical_after)}"
    if age_seconds is None:
        return CheckResult(name, never_status, never, threshold)
    status = OK
    if age_seconds > limits.critical_after.total_seconds():
        status = CRITICAL
    elif age_seconds > limits.warn_after.total_seconds():
        status = WARN
    return CheckResult(name, status, f"{what} {human_duration(age_seconds)} ago", threshold, round(age_seconds, 1))


def _last_success(conn: Any, task_id: str, dag_id: str | None) -> dict[str, float]:
    from analytics_ops.core.db import sql_file

    rows = conn.execute(sql_file("health/last_success"), {"task_id": task_id, "dag_id": dag_id}).fetchall()
    return {subject: age for subject, _, age in rows}


def newest_verified_backup(ctx: CheckContext) -> list[CheckResult]:
    """Age of the newest verified backup in ops.backups. Before ops.backups exists (migration 007, the
    backup DAG, is not deployed yet) the check says so, at `suite.when_backups_not_set_up` (warn)."""
    from analytics_ops.core.db import sql_file

    settings = ctx.config.health_check.suite
    with ctx.primary() as conn:
        exists = conn.execute("SELECT to_regclass('ops.backups') IS NOT NULL").fetchone()[0]
        row = conn.execute(sql_file("health/newest_verified_backup")).fetchone() if exists else None
    if not exists:
        threshold = f"suite.when_backups_not_set_up: {settings.when_backups_not_set_up}"
        return [
            CheckResult(
                "newest_verified_backup",
                settings.when_backups_not_set_up,
                "backups not set up",
                threshold,
                None,
                "ops.backups does not exist: no backup DAG has run against this database",
            )
        ]
    if row is None:
        return [_age_result("newest_verified_backup", None, settings.backup, "", "no verified backup")]
    backup_id, kind, _, _, age = row
    result = _age_result("newest_verified_backup", age, settings.backup, f"{kind} backup {backup_id} taken", "")
    return [result]


def mv_refresh_age(ctx: CheckContext) -> list[CheckResult]:
    from analytics_ops.core.db import split_name

    limits_by_group = ctx.config.health_check.suite.mv_refresh
    with ctx.primary() as conn:
        ages = _last_success(conn, "refresh_view", None)
        results = []
        for group, spec in ctx.config.mv_refresh.groups.items():
            if group not in limits_by_group:
                continue
            for view in spec.views:
                schema, name = split_name(view)
                populated = conn.execute(
                    "SELECT c.relispopulated FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = %s AND c.relname = %s AND c.relkind = 'm'",
                    (schema, name),
                ).fetchone()
                check = f"mv_refresh:{schema}.{name}"
                if populated is None or not populated[0]:
                    state = "does not exist" if populated is None else "was never populated"
                    threshold = f"{group} group: must exist and be populated"
                    results.append(CheckResult(check, CRITICAL, f"view {state}", threshold))
                    continue
                results.append(
                    _age_result(
                        check,
                        ages.get(f"{schema}.{name}"),
                        limits_by_group[group],
                        "refreshed",
                        "never refreshed by the suite (no refresh_view in ops.run_log)",
                    )
                )
    return results


def last_archival(ctx: CheckContext) -> list[CheckResult]:
    with ctx.primary() as conn:
        ages = _last_success(conn, "archive_rows", "analytics_monthly_archival")
    age = min(ages.values(), default=None)
    limits = ctx.config.health_check.suite.archival
    # A new installation has nothing two years old to archive yet: never having run is a warning.
    never = "never ran (no archive_rows in ops.run_log)"
    return [_age_result("last_archival", age, limits, "ran", never, never_status=WARN)]


def last_cache_warm(ctx: CheckContext) -> list[CheckResult]:
    with ctx.primary() as conn:
        ages = _last_success(conn, "report", "analytics_cache_warming")
    age = min(ages.values(), default=None)
    limits = ctx.config.health_check.suite.cache_warm
    return [_age_result("last_cache_warm", age, limits, "warmed", "never warmed (no cache warming in ops.run_log)")]


DAILY_CHECKS: tuple[Check, ...] = (
    Check("check_postgres_reachable", "postgres_reachable", postgres_reachable,
          "the analytics primary does not answer: runbook 001 P0 (systemctl status postgresql, its log)"),
    Check("check_connections", "postgres_connections", postgres_connections,
          "find who holds them (pg_stat_activity by application_name), runbook 002 INC-002"),
    Check("check_idle_in_transaction", "idle_in_transaction", idle_in_transaction,
          "analytics_stuck_work should have terminated them: is it running? Terminate by pid if not"),
    Check("check_long_queries", "long_running_queries", long_running_queries,
          "look at them (pg_stat_activity by pid); cancel with pg_cancel_backend if they hurt, runbook 001 P1"),
    Check("check_buffer_cache", "buffer_cache_hit_ratio", buffer_cache_hit_ratio,
          "shared_buffers too small for the working set, or a new query reading whole tables (runbook 000)"),
    Check("check_replica_lag", "replica_lag", replica_lag,
          "runbook 000: over 60 s, move analytics reads to the primary and look at the replica"),
    Check("check_replication_slots", "replication_slot", replication_slots,
          "a slot nobody reads keeps WAL forever: drop it (pg_drop_replication_slot) or bring its replica back"),
    Check("check_redis_reachable", "redis_reachable", redis_reachable,
          "Redis does not answer: runbook 001 Cache Not Working (redis-cli ping, restart)"),
    Check("check_redis_memory", "redis_memory", redis_memory,
          "runbook 001 Cache Monitoring: raise maxmemory or shorten cache.ttl"),
    Check("check_redis_hit_rate", "redis_hit_rate", redis_hit_rate,
          "runbook 001 Cache Optimization: is cache warming running, do keys expire too early?"),
    Check("check_redis_evictions", "redis_evicted_keys", redis_evicted_keys,
          "Redis is full: runbook 001, increase memory"),
    Check("check_daily_analytics", "daily_analytics_present", daily_analytics_present,
          "yesterday was not aggregated: look at analytics_daily_aggregation's run, backfill the day"),
    Check("check_daily_analytics_anomalies", "daily_analytics_anomalies", daily_analytics_anomalies,
          "runbook 001 Data Corruption: look at the users named, re-aggregate the day"),
    Check("check_freshness", "freshness_lag", freshness_lag,
          "runbook 003 Freshness Lag: is the rollup worker running?"),
    Check("check_staging_backlog", "staging_backlog", staging_backlog,
          "runbook 000 AnalyticsBufferGrowth: are the merges stuck?"),
    Check("check_stuck_jobs", "stuck_jobs", stuck_jobs,
          "analytics_stuck_work should have failed them: is it running? Runbook 002 INC-003"),
    Check("check_backups", "newest_verified_backup", newest_verified_backup,
          "no recent verified backup: look at the backup DAG's runs, take one now"),
    Check("check_mv_refresh", "mv_refresh", mv_refresh_age,
          "look at analytics_mv_refresh / analytics_mv_refresh_frequent's runs; refresh the view by hand"),
    Check("check_archival", "last_archival", last_archival,
          "look at analytics_monthly_archival's runs; trigger it"),
    Check("check_cache_warm", "last_cache_warm", last_cache_warm,
          "look at analytics_cache_warming's runs; the cache empties once its keys expire"),
)  # fmt: skip


# --- running a check as a task ---------------------------------------------------------------------


def evaluate(check: Check, ctx: CheckContext) -> list[CheckResult]:
    """The check's results; a check that cannot measure is one critical result saying why."""
    from analytics_ops.core.errors import error_first_line
    from analytics_ops.core.redaction import redact, suite_secrets

    try:
        results = check.measure(ctx)
    except Exception as exc:  # not swallowed: it becomes a critical result and fails the task
        log.exception("%s could not measure", check.name)
        error = redact(error_first_line(exc), suite_secrets(ctx.config))
        return [CheckResult(check.name, CRITICAL, "could not measure", "must be measurable", None, error)]
    for result in results:
        if result.check_name != check.name and not result.check_name.startswith(check.name + ":"):
            raise ValueError(f"{check.task_id} returned {result.check_name!r}, not named after {check.name!r}")
    return results


def store_results(ctx: CheckContext, check_name: str, results: list[CheckResult]) -> None:
    """Replace this run's earlier results of the check (a retried task) with these, in one transaction."""
    from analytics_ops.core.db import sql_file

    key = {"dag_id": ctx.dag_id, "run_id": ctx.run_id}
    with ctx.primary() as conn, conn.transaction():
        conn.execute(sql_file("health/delete_results"), {**key, "check_prefix": check_name})
        with conn.cursor() as cur:
            cur.executemany(
                sql_file("health/insert_result"),
                [{**key, "checked_at": ctx.checked_at, **asdict(r)} for r in results],
            )


def critical_message(check: Check, results: list[CheckResult]) -> str:
    bad = [r for r in results if r.status == CRITICAL]
    measured = "; ".join(
        f"{r.check_name} is {r.value} (threshold: {r.threshold})" + (f" [{r.detail}]" if r.detail else "") for r in bad
    )
    return f"{check.name} critical: {measured}. What to do: {check.advice}"


def run_check(check: Check) -> list[dict[str, Any]]:
    """What a check task does (see the module docstring)."""
    from airflow.sdk import get_current_context

    from analytics_ops.core.errors import error_first_line

    context = get_current_context()
    ti = context["ti"]
    ctx = CheckContext(
        config=load_config(),
        dag_id=ti.dag_id,
        run_id=ti.run_id,
        task_id=ti.task_id,
        as_of=context.get("logical_date") or context["dag_run"].run_after,
    )
    results = evaluate(check, ctx)
    payload = [asdict(r) for r in results]
    ti.xcom_push(key=RESULTS_KEY, value=payload)  # before any failure: the digest reads it either way
    try:
        store_results(ctx, check.name, results)
    except Exception as exc:  # the primary is down: its own check says so; the digest still has XCom
        log.warning("results of %s not stored in ops.health_check_results: %s", check.name, error_first_line(exc))
    for result in results:
        print(result.line())
    if any(r.status == CRITICAL for r in results):
        raise HealthCheckCritical(critical_message(check, results))
    return payload
