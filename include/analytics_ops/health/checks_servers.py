"""The daily checks of the servers: the Postgres primary, replication and its slots, the Redis cache."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from analytics_ops.health.framework import (
    CRITICAL,
    OK,
    WARN,
    CheckContext,
    CheckResult,
    grade_above,
    grade_below,
    human_bytes,
    human_duration,
    worst,
)
from analytics_ops.health.framework import (
    human_timedelta as _d,
)


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
