"""Config sections of the suite's jobs: aggregation, cache, views, maintenance, archival, retention,
stuck work, backups."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field, model_validator

from analytics_ops.core.config_types import Duration, _Strict


class PriorityWeights(_Strict):
    low: float = Field(
        1,
        ge=0,
        description="Weight of a completed low-priority task.",
    )
    medium: float = Field(
        2,
        ge=0,
        description="Weight of a completed medium-priority task.",
    )
    high: float = Field(
        3,
        ge=0,
        description="Weight of a completed high-priority task.",
    )
    urgent: float = Field(
        4,
        ge=0,
        description="Weight of a completed urgent task.",
    )


class AggregationSettings(_Strict):
    max_backfill_days: int = Field(
        366,
        ge=1,
        le=3660,
        description="Longest date range one manual backfill may cover (inclusive of both ends).",
    )
    chunk_days: int = Field(
        31,
        ge=1,
        le=366,
        description=(
            "A backfill range is cut into chunks of this many days; each chunk is one transaction and one "
            "mapped task, so a failed chunk retries alone."
        ),
    )
    parallel_chunks: int = Field(
        2,
        ge=1,
        le=32,
        description="Chunks that may write at the same time.",
    )
    priority_weights: PriorityWeights = Field(
        PriorityWeights(),
        description="Weight of each priority in the productivity score (see the DAG's documentation).",
    )
    overdue_penalty: float = Field(
        0.5,
        ge=0,
        description="Points taken off the productivity score for each task that went overdue that day.",
    )


CACHE_METRICS = ("task_totals", "completion_rate", "priority_distribution", "status_distribution", "productivity_score")


class CacheSettings(_Strict):
    read_from: Literal["replica", "primary"] = Field(
        "replica",
        description="Read the metrics from the replica (gated on its lag) or the primary.",
    )
    active_days: int = Field(
        7,
        ge=1,
        le=365,
        description=(
            "A user is active when one of their tasks changed in this many days; also the productivity score's window."
        ),
    )
    chunk_users: int = Field(
        10_000,
        ge=1,
        le=1_000_000,
        description="Users per mapped task: a failed chunk retries alone.",
    )
    parallel_chunks: int = Field(
        2,
        ge=1,
        le=64,
        description="Chunks warmed at the same time (each reads the source and writes Redis).",
    )
    pipeline_commands: int = Field(
        5_000,
        ge=1,
        le=100_000,
        description="Keys written per round trip to Redis (one script call; see docs/benchmarks.md).",
    )
    ttl: Duration = Field(
        timedelta(hours=7),
        description=(
            "Every key is written with this TTL (longer than the 6-hour schedule, so keys never lapse between "
            "runs, and a user who goes inactive drops out of the cache by itself)."
        ),
    )
    key_template: str = Field(
        "analytics:{metric}:{user_id}",
        description="One key per user per metric, JSON the API serves as is ...",
    )
    overview_key_template: str = Field(
        "analytics:overview:{user_id}",
        description="... and one with all five, for the overview endpoint.",
    )
    hygiene_pattern: str = Field(
        "analytics:*",
        description="Hygiene: keys matching this with no TTL are deleted (SCAN, never KEYS).",
    )
    scan_count: int = Field(
        1_000,
        ge=10,
        le=100_000,
        description="COUNT hint of each SCAN call during the hygiene pass.",
    )

    @model_validator(mode="after")
    def _templates_name_their_fields(self) -> CacheSettings:
        if "{metric}" not in self.key_template or "{user_id}" not in self.key_template:
            raise ValueError("key_template must contain {metric} and {user_id}")
        if "{user_id}" not in self.overview_key_template:
            raise ValueError("overview_key_template must contain {user_id}")
        if self.ttl < timedelta(seconds=1):
            raise ValueError("ttl must be at least 1s: every cached key expires")
        return self


class MvGroup(_Strict):
    """One refresh schedule's views (evening: analytics_mv_refresh; frequent: analytics_mv_refresh_frequent)."""

    views: list[str] = Field(
        min_length=1,
        description=(
            "Materialized views refreshed CONCURRENTLY, one mapped task each (schema-qualified, or in `public`)."
        ),
    )


class MvRefreshSettings(_Strict):
    pool: str = Field(
        "mv_refresh",
        description=(
            "Airflow pool that bounds how many refreshes run at once across the suite (make airflow-db creates "
            "it with pool_slots slots)."
        ),
    )
    pool_slots: int = Field(
        2,
        ge=1,
        le=64,
        description="Slots of that pool: refreshes running at once across the suite.",
    )
    statement_timeout: Duration = Field(
        timedelta(minutes=30),
        description="Cap on one view's refresh statement.",
    )
    groups: dict[str, MvGroup] = Field(
        default_factory=dict,
        description="Named groups of views, one per refresh DAG.",
    )

    @model_validator(mode="after")
    def _each_view_in_one_group(self) -> MvRefreshSettings:
        seen: dict[str, str] = {}
        for group, spec in self.groups.items():
            for view in spec.views:
                if view in seen:
                    raise ValueError(f"view {view} is in groups {seen[view]} and {group}: refreshes would overlap")
                seen[view] = group
        return self


class MaintenanceSettings(_Strict):
    schemas: list[str] = Field(
        default_factory=lambda: ["public", "ops"],
        description="Schemas whose tables and indexes are looked at.",
    )
    vacuum_tables: list[str] = Field(
        default_factory=lambda: ["tasks", "daily_analytics"],
        description="Always VACUUM (ANALYZE)d weekly ...",
    )
    dead_tuple_pct: float = Field(
        20,
        gt=0,
        le=100,
        description="... and so is any table with at least this share of dead tuples and this many of them.",
    )
    min_dead_tuples: int = Field(
        10_000,
        ge=0,
        description="... and at least this many dead tuples (see dead_tuple_pct).",
    )
    reindex_bloat_pct: float = Field(
        30,
        gt=0,
        le=100,
        description=(
            "REINDEX INDEX CONCURRENTLY b-tree indexes whose estimated bloat (pgstatindex leaf density against "
            "the fillfactor) is at least this, among those of at least min_index_bytes."
        ),
    )
    min_index_bytes: int = Field(
        8 * 1024 * 1024,
        ge=0,
        description="Indexes smaller than this are never reindexed (see reindex_bloat_pct).",
    )
    statement_timeout: Duration = Field(
        timedelta(hours=2),
        description="Cap on one VACUUM or REINDEX (lock waits are capped by database.lock_timeout).",
    )


class ArchivalSettings(_Strict):
    retention_years: int = Field(
        2,
        ge=1,
        le=50,
        description="Rows older than this many years move to daily_analytics_archive.",
    )
    min_retention_days: int = Field(
        90,
        ge=1,
        description="The older_than param may not reach closer to today than this.",
    )
    batch_rows: int = Field(
        10_000,
        ge=1,
        le=1_000_000,
        description="Keyset batches, each one short transaction: the size adapts to stay near target_batch_seconds.",
    )
    max_batch_rows: int = Field(
        200_000,
        ge=1,
        description="Upper bound of the adaptive batch size.",
    )
    target_batch_seconds: float = Field(
        0.5,
        gt=0,
        le=60,
        description="Batch duration the adaptive batch size aims at.",
    )
    batch_statement_timeout: Duration = Field(
        timedelta(seconds=30),
        description="Cap on one batch's statement; a batch over it fails and retries.",
    )
    parallel_workers: int = Field(
        2,
        ge=1,
        le=16,
        description=(
            "Connections walking disjoint day ranges at once in the first pass (each batch stays short; the "
            "one-statement move uses one core). 1 = one connection, strictly oldest first."
        ),
    )
    top_statements: int = Field(
        100,
        ge=1,
        le=10_000,
        description="pg_stat_statements rows kept (by total time) before the monthly reset.",
    )


class OnlyWhen(_Strict):
    column: str = Field(
        description="The column to compare.",
    )
    equals: str = Field(
        description="The value it must equal (text).",
    )


class RetentionPolicy(_Strict):
    """One retention rule per table."""

    table: str = Field(
        description="The table to clean.",
    )
    key_column: str = Field(
        description="Its unique key, walked in keyset batches.",
    )
    timestamp_column: str = Field(
        description="The column compared with `older_than`.",
    )
    older_than: Duration = Field(
        description="Rows whose timestamp is older than this are removed.",
    )
    only_when: OnlyWhen | None = Field(
        None,
        description="Only rows where a column equals a value (e.g. resolved alerts).",
    )
    archive_table: str | None = Field(
        None,
        description="Move rows into this table instead of deleting them.",
    )


class RetentionSettings(_Strict):
    batch_rows: int = Field(
        5_000,
        ge=1,
        le=1_000_000,
        description="Rows deleted (or moved) per keyset batch, each one short transaction.",
    )
    policies: list[RetentionPolicy] = Field(
        default_factory=list,
        description="The retention rules, applied in order.",
    )


class StuckWorkSettings(_Strict):
    stuck_after: Duration = Field(
        timedelta(minutes=30),
        description="processing_jobs in 'processing' longer than this are marked failed.",
    )
    idle_in_transaction_limit: Duration = Field(
        timedelta(minutes=10),
        description="Sessions idle in a transaction longer than this are terminated ...",
    )
    # application_name prefixes whose sessions are never terminated (the suite's own never are).
    allow_applications: list[str] = Field(
        default_factory=list,
        description="... except those whose application_name starts with one of these (and the suite's own).",
    )
