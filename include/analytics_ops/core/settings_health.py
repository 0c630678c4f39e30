"""Config sections of the checks: `health_check` (the morning routine) and `weekly_review`."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field, model_validator

from analytics_ops.core.config_types import Duration, _Strict


class AgeLimits(_Strict):
    """How old the newest successful run of a job may be: older is a warning, then critical."""

    warn_after: Duration
    """Warn when the newest successful run (of the job or view these limits are for) is older than this."""
    critical_after: Duration
    """Critical when the newest successful run (of the job or view these limits are for) is older than this."""

    @model_validator(mode="after")
    def _ordered(self) -> AgeLimits:
        if self.critical_after < self.warn_after:
            raise ValueError("critical_after must not be shorter than warn_after")
        return self


class PostgresHealth(_Strict):
    connections_warn_pct: float = Field(80, gt=0, le=100)
    """Client connections against max_connections (runbooks 001/002: warn at 80%)."""
    connections_critical_pct: float = Field(95, gt=0, le=100)
    """Critical at this share of max_connections."""
    idle_in_transaction_warn_after: Duration = timedelta(minutes=1)
    """Sessions idle in a transaction (they hold locks and block VACUUM) longer than this. Critical at the age
    analytics_stuck_work terminates them (stuck_work.idle_in_transaction_limit): if one is still there, that DAG is
    not doing its job."""
    idle_in_transaction_critical_after: Duration = timedelta(minutes=10)
    """Critical when a session is idle in a transaction this long (analytics_stuck_work should have ended it)."""
    long_query_warn_after: Duration = timedelta(minutes=5)
    """Statements running longer than this (runbook 002: 5 minutes)."""
    long_query_critical_after: Duration = timedelta(minutes=30)
    """Critical when a statement runs this long."""
    buffer_cache_hit_warn_pct: float = Field(90, ge=0, le=100)
    """Buffer-cache hit ratio of the analytics database since its statistics were reset (runbook 000); not judged until
    at least buffer_cache_min_blocks blocks were read or hit."""
    buffer_cache_hit_critical_pct: float = Field(80, ge=0, le=100)
    """Critical under this buffer-cache hit ratio."""
    buffer_cache_min_blocks: int = Field(10_000, ge=0)
    """The ratio is not judged with fewer block accesses."""


class ReplicationHealth(_Strict):
    lag_warn_seconds: float = Field(30, gt=0)
    """Each replica, from the primary's view and from its own (replication.replica_connections). Runbook 000: over 60
    s, move reads to the primary."""
    lag_critical_seconds: float = Field(60, gt=0)
    """Critical when a replica is this many seconds behind."""
    lag_warn_bytes: int = Field(16 * 1024 * 1024, gt=0)
    """Warn when a replica is this many bytes of WAL behind."""
    lag_critical_bytes: int = Field(64 * 1024 * 1024, gt=0)
    """Critical when a replica is this many bytes of WAL behind."""
    slot_retained_warn_bytes: int = Field(1024**3, gt=0)
    """WAL a replication slot keeps on the primary's disk (an abandoned slot fills the disk)."""
    slot_retained_critical_bytes: int = Field(8 * 1024**3, gt=0)
    """Critical when a slot holds this much WAL."""


class RedisHealth(_Strict):
    memory_warn_pct: float = Field(75, gt=0, le=100)
    """used_memory against maxmemory (runbook 001: warn at 75%); no maxmemory at all is a warning."""
    memory_critical_pct: float = Field(90, gt=0, le=100)
    """Critical at this share of maxmemory."""
    hit_rate_warn_pct: float = Field(70, ge=0, le=100)
    """Keyspace hit rate since the previous check (runbook 001: under 70%, investigate); not judged with fewer than
    hit_rate_min_lookups lookups in that time."""
    hit_rate_min_lookups: int = Field(100, ge=1)
    """The hit rate is not judged with fewer lookups since the last check."""
    evicted_keys_warn_per_hour: float = Field(1000, ge=0)
    """Keys evicted per hour since the previous check (a window under an hour counts as an hour)."""


class DataHealth(_Strict):
    freshness_warn_after: Duration = timedelta(minutes=5)
    """freshness_status: newest source event against newest rollup, worst model (runbook 003)."""
    freshness_critical_after: Duration = timedelta(minutes=10)
    """Critical when the rollup is this far behind the newest event (runbook 003: 10 minutes)."""
    staging_backlog_warn_rows: int = Field(10_000, ge=1)
    """Rows waiting in analytics_events_stage (runbook 000's staging backlog)."""
    staging_backlog_critical_rows: int = Field(100_000, ge=1)
    """Critical with this many rows waiting in staging."""
    stuck_jobs_critical_after: Duration = timedelta(hours=2)
    """Jobs in 'processing' longer than stuck_work.stuck_after are a warning (analytics_stuck_work fails them every 15
    minutes); longer than this, critical (it is not doing its job)."""


def _default_mv_ages() -> dict[str, AgeLimits]:
    return {
        "evening": AgeLimits(warn_after=timedelta(hours=26), critical_after=timedelta(hours=50)),
        "frequent": AgeLimits(warn_after=timedelta(hours=1), critical_after=timedelta(hours=3)),
    }


class SuiteHealth(_Strict):
    backup: AgeLimits = AgeLimits(warn_after=timedelta(hours=26), critical_after=timedelta(hours=50))
    """Newest verified, not deleted full backup in ops.backups (daily pg_dump, runbook 001)."""
    base_backup: AgeLimits = AgeLimits(warn_after=timedelta(days=8), critical_after=timedelta(days=15))
    """Newest verified, not deleted base backup (weekly pg_basebackup of the incremental backup DAG), judged on its
    own schedule; checked once the catalogue holds a base backup."""
    when_backups_not_set_up: Literal["warn", "critical"] = "warn"
    """Before ops.backups exists (no backup DAG deployed yet): warn or critical."""
    archival: AgeLimits = AgeLimits(warn_after=timedelta(days=36), critical_after=timedelta(days=64))
    """Monthly archival (first Sunday of the month); dry runs do not count."""
    cache_warm: AgeLimits = AgeLimits(warn_after=timedelta(hours=7), critical_after=timedelta(hours=13))
    """Cache warming every 6 h; keys live cache.ttl (7 h), so older than that the cache is emptying."""
    mv_refresh: dict[str, AgeLimits] = Field(default_factory=_default_mv_ages)
    """Each view of each mv_refresh group; a group not listed here is not checked."""


class HealthCheckSettings(_Strict):
    statement_timeout: Duration = timedelta(seconds=30)
    """Cap on each query a check runs (a health check must never be the slow query)."""
    postgres: PostgresHealth = PostgresHealth()
    """Checks of the primary: connections, idle transactions, long queries, cache hits."""
    replication: ReplicationHealth = ReplicationHealth()
    """Checks of each replica's lag and each replication slot's retained WAL."""
    redis: RedisHealth = RedisHealth()
    """Checks of the Redis cache: memory, hit rate, evictions."""
    data: DataHealth = DataHealth()
    """Checks of the data: freshness, staging backlog, stuck jobs."""
    suite: SuiteHealth = SuiteHealth()
    """The suite's own jobs, from ops.run_log (and ops.backups): how old the newest successful run may be."""

    @model_validator(mode="after")
    def _warn_before_critical(self) -> HealthCheckSettings:
        pg, rep, redis, data = self.postgres, self.replication, self.redis, self.data
        pairs = {
            "postgres.connections_*_pct": pg.connections_warn_pct <= pg.connections_critical_pct,
            "postgres.idle_in_transaction_*_after": pg.idle_in_transaction_warn_after
            <= pg.idle_in_transaction_critical_after,
            "postgres.long_query_*_after": pg.long_query_warn_after <= pg.long_query_critical_after,
            # A hit ratio is bad when low: critical is the lower bound.
            "postgres.buffer_cache_hit_*_pct": pg.buffer_cache_hit_critical_pct <= pg.buffer_cache_hit_warn_pct,
            "replication.lag_*_seconds": rep.lag_warn_seconds <= rep.lag_critical_seconds,
            "replication.lag_*_bytes": rep.lag_warn_bytes <= rep.lag_critical_bytes,
            "replication.slot_retained_*_bytes": rep.slot_retained_warn_bytes <= rep.slot_retained_critical_bytes,
            "redis.memory_*_pct": redis.memory_warn_pct <= redis.memory_critical_pct,
            "data.freshness_*_after": data.freshness_warn_after <= data.freshness_critical_after,
            "data.staging_backlog_*_rows": data.staging_backlog_warn_rows <= data.staging_backlog_critical_rows,
        }
        wrong = [name for name, ordered in pairs.items() if not ordered]
        if wrong:
            raise ValueError(f"the warning threshold must come before the critical one: {', '.join(wrong)}")
        return self


class WeeklyReviewSettings(_Strict):
    slow_statement_mean: Duration = timedelta(seconds=1)
    """Statements from pg_stat_statements whose mean time is over this (runbook 001: 1 s) ..."""
    top_statements: int = Field(10, ge=1, le=100)
    """... at most this many, slowest first."""
    compare_after: Duration = timedelta(days=6)
    """Sizes are compared with the newest snapshot (ops.table_size_history) at least this old."""
    growth_warn_pct: float = Field(20, gt=0)
    """A table or index of at least growth_min_bytes that grew this much since then is a warning."""
    growth_min_bytes: int = Field(10 * 1024 * 1024, ge=0)
    """Tables and indexes smaller than this are not judged on growth."""
    table_bloat_warn_pct: float = Field(30, gt=0, le=100)
    """Estimated table bloat (pgstattuple_approx: dead + free space) of tables of at least table_bloat_min_bytes; index
    bloat and dead tuples use the maintenance section's thresholds."""
    table_bloat_min_bytes: int = Field(8 * 1024 * 1024, ge=0)
    """Tables smaller than this are not judged on bloat."""
    unused_index_min_bytes: int = Field(1024 * 1024, ge=0)
    """Indexes never scanned since statistics were reset, of at least this size (not unique, not primary keys: those
    enforce constraints)."""
