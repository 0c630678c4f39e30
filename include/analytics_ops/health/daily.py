"""The checks of `analytics_health_check`, in the order of its tasks, each with what the on-call does."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from analytics_ops.core.config import AgeLimits, SuiteConfig
from analytics_ops.health.checks_data import (
    daily_analytics_anomalies,
    daily_analytics_present,
    freshness_lag,
    last_archival,
    last_cache_warm,
    mv_refresh_age,
    newest_verified_backup,
    staging_backlog,
    stuck_jobs,
)
from analytics_ops.health.checks_servers import (
    buffer_cache_hit_ratio,
    idle_in_transaction,
    long_running_queries,
    postgres_connections,
    postgres_reachable,
    redis_evicted_keys,
    redis_hit_rate,
    redis_memory,
    redis_reachable,
    replica_lag,
    replication_slots,
)
from analytics_ops.health.framework import Check

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


def _t(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def _b(value: int) -> str:
    return f"{value // 1024**3} GB" if value % 1024**3 == 0 else f"{value / 1024**2:g} MB"


def _rows(value: int) -> str:
    return f"{value // 1000}k" if value % 1000 == 0 else str(value)


def _ages(limits: AgeLimits) -> str:
    return f"warn > {_t(limits.warn_after)}, critical > {_t(limits.critical_after)}"


# The "default thresholds" column of the table in analytics_health_check's runbook (its docstring),
# from the config: tests/unit/test_health_thresholds.py holds the table to these.
THRESHOLDS: dict[str, Callable[[SuiteConfig], str]] = {
    "check_postgres_reachable": lambda c: "critical if not",
    "check_connections": lambda c: (
        f"warn {c.health_check.postgres.connections_warn_pct:g}%, "
        f"critical {c.health_check.postgres.connections_critical_pct:g}%"
    ),
    "check_idle_in_transaction": lambda c: (
        f"warn > {_t(c.health_check.postgres.idle_in_transaction_warn_after)}, "
        f"critical > {_t(c.health_check.postgres.idle_in_transaction_critical_after)}"
    ),
    "check_long_queries": lambda c: (
        f"warn > {_t(c.health_check.postgres.long_query_warn_after)}, "
        f"critical > {_t(c.health_check.postgres.long_query_critical_after)}"
    ),
    "check_buffer_cache": lambda c: (
        f"warn < {c.health_check.postgres.buffer_cache_hit_warn_pct:g}%, "
        f"critical < {c.health_check.postgres.buffer_cache_hit_critical_pct:g}%"
    ),
    "check_replica_lag": lambda c: (
        f"warn {c.health_check.replication.lag_warn_seconds:g} s / {_b(c.health_check.replication.lag_warn_bytes)}, "
        f"crit. {c.health_check.replication.lag_critical_seconds:g} s / "
        f"{_b(c.health_check.replication.lag_critical_bytes)}"
    ),
    "check_replication_slots": lambda c: (
        f"warn {_b(c.health_check.replication.slot_retained_warn_bytes)}, "
        f"critical {_b(c.health_check.replication.slot_retained_critical_bytes)}"
    ),
    "check_redis_reachable": lambda c: "critical if not",
    "check_redis_memory": lambda c: (
        f"warn {c.health_check.redis.memory_warn_pct:g}%, critical {c.health_check.redis.memory_critical_pct:g}%"
    ),
    "check_redis_hit_rate": lambda c: f"warn < {c.health_check.redis.hit_rate_warn_pct:g}%",
    "check_redis_evictions": lambda c: f"warn > {c.health_check.redis.evicted_keys_warn_per_hour:g}/h",
    "check_daily_analytics": lambda c: "critical at 0",
    "check_daily_analytics_anomalies": lambda c: "critical at 1",
    "check_freshness": lambda c: (
        f"warn > {_t(c.health_check.data.freshness_warn_after)}, "
        f"critical > {_t(c.health_check.data.freshness_critical_after)}"
    ),
    "check_staging_backlog": lambda c: (
        f"warn {_rows(c.health_check.data.staging_backlog_warn_rows)}, "
        f"critical {_rows(c.health_check.data.staging_backlog_critical_rows)}"
    ),
    "check_stuck_jobs": lambda c: (
        f"warn > {_t(c.stuck_work.stuck_after)}, critical > {_t(c.health_check.data.stuck_jobs_critical_after)}"
    ),
    "check_backups": lambda c: (
        f"full {_t(c.health_check.suite.backup.warn_after)} / {_t(c.health_check.suite.backup.critical_after)} "
        f"or none, base {_t(c.health_check.suite.base_backup.warn_after)} / "
        f"{_t(c.health_check.suite.base_backup.critical_after)}"
    ),
    "check_mv_refresh": lambda c: ", ".join(
        f"{group}{' group' if i == 0 else ''} {_t(limits.warn_after)} / {_t(limits.critical_after)}"
        for i, (group, limits) in enumerate(c.health_check.suite.mv_refresh.items())
    ),
    "check_archival": lambda c: _ages(c.health_check.suite.archival),
    "check_cache_warm": lambda c: _ages(c.health_check.suite.cache_warm),
}
