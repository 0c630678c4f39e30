"""Config sections of the suite's jobs: aggregation, cache, views, maintenance, archival, retention,
stuck work, backups."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Literal

from pydantic import Field, field_validator, model_validator

from analytics_ops.core.config_types import Duration, _Strict
from analytics_ops.core.key_patterns import literal_start, outside_prefixes


class PriorityWeights(_Strict):
    low: float = Field(1, ge=0)
    """Weight of a completed low-priority task."""
    medium: float = Field(2, ge=0)
    """Weight of a completed medium-priority task."""
    high: float = Field(3, ge=0)
    """Weight of a completed high-priority task."""
    urgent: float = Field(4, ge=0)
    """Weight of a completed urgent task."""


class AggregationSettings(_Strict):
    earliest_day: date = date(2020, 1, 1)
    """No run aggregates a day before this one (the oldest day the tasks table can hold data for): a backfill that
    starts earlier is refused, naming this setting."""
    max_backfill_days: int = Field(366, ge=1, le=3660)
    """Longest date range one manual backfill may cover (inclusive of both ends)."""
    chunk_days: int = Field(31, ge=1, le=366)
    """A backfill range is cut into chunks of this many days; each chunk is one transaction and one mapped task, so a
    failed chunk retries alone."""
    parallel_chunks: int = Field(2, ge=1, le=32)
    """Chunks that may write at the same time."""
    priority_weights: PriorityWeights = PriorityWeights()
    """Weight of each priority in the productivity score (see the DAG's documentation)."""
    overdue_penalty: float = Field(0.5, ge=0)
    """Points taken off the productivity score for each task that went overdue that day."""


CACHE_METRICS = ("task_totals", "completion_rate", "priority_distribution", "status_distribution", "productivity_score")


class CacheSettings(_Strict):
    read_from: Literal["replica", "primary"] = "replica"
    """Read the metrics from the replica (gated on its lag) or the primary."""
    active_days: int = Field(7, ge=1, le=365)
    """A user is active when one of their tasks changed in this many days; also the productivity score's window."""
    chunk_users: int = Field(10_000, ge=1, le=1_000_000)
    """Users per mapped task: a failed chunk retries alone."""
    parallel_chunks: int = Field(2, ge=1, le=64)
    """Chunks warmed at the same time (each reads the source and writes Redis)."""
    pipeline_commands: int = Field(5_000, ge=1, le=100_000)
    """Keys written per round trip to Redis (one script call; see docs/benchmarks.md)."""
    ttl: Duration = timedelta(hours=7)
    """Every key is written with this TTL (longer than the 6-hour schedule, so keys never lapse between runs, and a
    user who goes inactive drops out of the cache by itself)."""
    key_template: str = "analytics:{metric}:{user_id}"
    """One key per user per metric, JSON the API serves as is ..."""
    overview_key_template: str = "analytics:overview:{user_id}"
    """... and one with all five, for the overview endpoint."""
    hygiene_pattern: str = "analytics:*"
    """The analytics cache's keys: the hygiene pass deletes those with no TTL (SCAN, never KEYS), and
    analytics_cache_clear's scope `analytics` deletes them all. Must lie within clearable_prefixes."""
    scan_count: int = Field(1_000, ge=10, le=100_000)
    """COUNT hint of each SCAN call (the hygiene pass, cache clearing)."""
    clearable_prefixes: list[str] = Field(default_factory=lambda: ["analytics:", "live:merchant:"], min_length=1)
    """The only key namespaces analytics_cache_clear may delete from: a pattern must begin with one of them written out
    in full (no glob character before the prefix ends), or it is refused. Each ends with ':'."""
    merchant_pattern: str = "live:merchant:{merchant_id}:*"
    """One merchant's live counters (analytics_cache_clear, scope `merchant`); {merchant_id} is replaced by the id.
    The id must be followed by a literal separator, so merchant 1 never reaches merchant 12's keys."""
    unlink_batch: int = Field(1_000, ge=1, le=100_000)
    """Cache clearing: keys unlinked per pipeline round trip (one UNLINK per key)."""

    @model_validator(mode="after")
    def _templates_name_their_fields(self) -> CacheSettings:
        if "{metric}" not in self.key_template or "{user_id}" not in self.key_template:
            raise ValueError("key_template must contain {metric} and {user_id}")
        if "{user_id}" not in self.overview_key_template:
            raise ValueError("overview_key_template must contain {user_id}")
        if self.ttl < timedelta(seconds=1):
            raise ValueError("ttl must be at least 1s: every cached key expires")
        return self

    @model_validator(mode="after")
    def _clearing_stays_within_its_prefixes(self) -> CacheSettings:
        for prefix in self.clearable_prefixes:
            if not prefix.endswith(":") or literal_start(prefix) != prefix or prefix != prefix.strip():
                raise ValueError(
                    f"clearable_prefixes: {prefix!r} must be a namespace ending in ':', without glob characters"
                )
        if reason := outside_prefixes(self.hygiene_pattern, self.clearable_prefixes):
            raise ValueError(f"hygiene_pattern: {reason}")
        before, placeholder, after = self.merchant_pattern.partition("{merchant_id}")
        if not placeholder or "{merchant_id}" in after:
            raise ValueError("merchant_pattern must contain {merchant_id} once")
        if literal_start(before) != before or not after or literal_start(after[0]) != after[0] or after[0].isdigit():
            raise ValueError(
                "merchant_pattern: {merchant_id} must follow a literal prefix and be followed by a literal separator"
                " (not a digit or glob character), e.g. live:merchant:{merchant_id}:*"
            )
        if reason := outside_prefixes(before, self.clearable_prefixes):
            raise ValueError(f"merchant_pattern: {reason}")
        return self


class MvGroup(_Strict):
    """One refresh schedule's views (evening: analytics_mv_refresh; frequent: analytics_mv_refresh_frequent)."""

    views: list[str] = Field(min_length=1)
    """Materialized views refreshed CONCURRENTLY, one mapped task each (schema-qualified, or in `public`)."""


class MvRefreshSettings(_Strict):
    pool: str = "mv_refresh"
    """Airflow pool that bounds how many refreshes run at once across the suite (make airflow-db creates it with
    pool_slots slots)."""
    pool_slots: int = Field(2, ge=1, le=64)
    """Slots of that pool: refreshes running at once across the suite."""
    statement_timeout: Duration = timedelta(minutes=30)
    """Cap on one view's refresh statement."""
    groups: dict[str, MvGroup] = Field(default_factory=dict)
    """Named groups of views, one per refresh DAG."""

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
    schemas: list[str] = Field(default_factory=lambda: ["public", "ops"])
    """Schemas whose tables and indexes are looked at."""
    vacuum_tables: list[str] = Field(default_factory=lambda: ["tasks", "daily_analytics"])
    """Always VACUUM (ANALYZE)d weekly ..."""
    dead_tuple_pct: float = Field(20, gt=0, le=100)
    """... and so is any table with at least this share of dead tuples and this many of them."""
    min_dead_tuples: int = Field(10_000, ge=0)
    """... and at least this many dead tuples (see dead_tuple_pct)."""
    reindex_bloat_pct: float = Field(30, gt=0, le=100)
    """REINDEX INDEX CONCURRENTLY b-tree indexes whose estimated bloat (pgstatindex leaf density against the
    fillfactor) is at least this, among those of at least min_index_bytes."""
    min_index_bytes: int = Field(8 * 1024 * 1024, ge=0)
    """Indexes smaller than this are never reindexed (see reindex_bloat_pct)."""
    statement_timeout: Duration = timedelta(hours=2)
    """Cap on one VACUUM or REINDEX (lock waits are capped by database.lock_timeout)."""
    pool: str = "heavy_maintenance"
    """Airflow pool of the suite's heavy jobs on the primary: the weekly VACUUMs and REINDEXes and the monthly
    archival's move and VACUUM. On the first Sunday of a month both DAGs start at 02:00; the pool runs their heavy
    tasks one after another instead of two VACUUMs of daily_analytics contending (make airflow-db creates it)."""
    pool_slots: int = Field(1, ge=1, le=16)
    """Slots of that pool: heavy jobs running on the primary at once."""


class ArchivalSettings(_Strict):
    retention_years: int = Field(2, ge=1, le=50)
    """Rows older than this many years move to daily_analytics_archive."""
    min_retention_days: int = Field(90, ge=1)
    """The older_than param may not reach closer to today than this."""
    batch_rows: int = Field(10_000, ge=1, le=1_000_000)
    """Keyset batches, each one short transaction: the size adapts to stay near target_batch_seconds."""
    max_batch_rows: int = Field(200_000, ge=1)
    """Upper bound of the adaptive batch size."""
    target_batch_seconds: float = Field(0.5, gt=0, le=60)
    """Batch duration the adaptive batch size aims at."""
    batch_statement_timeout: Duration = timedelta(seconds=30)
    """Cap on one batch's statement; a batch over it fails and retries."""
    parallel_workers: int = Field(2, ge=1, le=16)
    """Connections walking disjoint day ranges at once in the first pass (each batch stays short; the one-statement
    move uses one core). 1 = one connection, strictly oldest first."""
    top_statements: int = Field(100, ge=1, le=10_000)
    """pg_stat_statements rows kept (by total time) before the monthly reset."""


class OnlyWhen(_Strict):
    column: str
    """The column to compare."""
    equals: str
    """The value it must equal (text)."""


class RetentionPolicy(_Strict):
    """One retention rule per table."""

    table: str
    """The table to clean: `name` (found on the search path) or `schema.name` (`ops.alerts`)."""
    key_column: str
    """Its unique key, walked in keyset batches."""
    timestamp_column: str
    """The column compared with `older_than`."""
    older_than: Duration
    """Rows whose timestamp is older than this are removed."""
    only_when: OnlyWhen | None = None
    """Only rows where a column equals a value (e.g. resolved alerts)."""
    archive_table: str | None = None
    """Move rows into this table instead of deleting them (`name` or `schema.name`)."""

    @field_validator("table", "archive_table")
    @classmethod
    def _name_or_schema_dot_name(cls, name: str | None) -> str | None:
        if name is not None and (name.count(".") > 1 or not all(name.split("."))):
            raise ValueError(f"{name!r}: write a table as name or schema.name (e.g. ops.alerts)")
        return name


class RetentionSettings(_Strict):
    batch_rows: int = Field(5_000, ge=1, le=1_000_000)
    """Rows deleted (or moved) per keyset batch, each one short transaction."""
    policies: list[RetentionPolicy] = Field(default_factory=list)
    """The retention rules, applied in order."""


class StuckWorkSettings(_Strict):
    stuck_after: Duration = timedelta(minutes=30)
    """processing_jobs in 'processing' longer than this are marked failed."""
    idle_in_transaction_limit: Duration = timedelta(minutes=10)
    """Sessions idle in a transaction longer than this are terminated ..."""
    allow_applications: list[str] = Field(default_factory=list)
    """... except the suite's own and those whose application_name is one of these: an exact name, or a prefix written
    with a trailing * ("payments-*"). Nothing else is a wildcard."""
    spare_backup_tools: bool = True
    """Spare backup tools too (pg_dump, pg_restore, pg_basebackup, pg_receivewal, barman*, pgbackrest*, wal-g*): pg_dump
    holds its snapshot in a transaction that stays idle while its workers copy."""

    @field_validator("allow_applications")
    @classmethod
    def _entries_are_names_or_prefixes(cls, entries: list[str]) -> list[str]:
        for entry in entries:
            if not entry.rstrip("*") or "*" in entry[:-1]:
                raise ValueError(f"{entry!r}: an application_name, or a prefix followed by one trailing *")
        return entries


class BackupSettings(_Strict):
    destination: str = "file:///var/backups/analytics-ops"
    """Where backups go, as a URL read through Airflow's ObjectStoragePath: file:///path by default; sftp://host/path
    (with destination_connection); s3://bucket/prefix or gs://... once the Amazon/Google provider is installed. The
    environment variable ANALYTICS_OPS_BACKUP_DESTINATION, when set, wins (the local stack sets it)."""
    destination_shared_by_workers: bool = False
    """A backup taken by one worker is verified, restored and expired by whichever worker runs those tasks. With an
    executor that runs tasks on several hosts (anything but LocalExecutor), a file:// destination is refused unless
    it is one folder shared by every worker (e.g. the same NFS mount): then set this to true. Remote destinations
    (sftp://, s3://, gs://) are shared by nature."""
    destination_connection: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]{1,250}$")
    """Airflow connection id for the destination, e.g. for sftp://host/path an SFTP connection with the host, port,
    login, and the secret: password or private_key extra, plus the server's host_key extra (docs/backups.md). null
    for file:// (and for s3:// or gs:// with the provider's default)."""
    retention_days: int = Field(30, ge=1)
    """The recovery window: every instant of this many days stays recoverable (the newest verified base backup finished
    before it, and the WAL after it, are kept); older backups are deleted, except the newest verified of each kind."""
    dump_jobs: int = Field(1, ge=1, le=64)
    """pg_dump -j workers of the full backup, each a COPY backend on the primary (capped at the worker's cores). Raise
    it only when the primary has cores to spare at backup time: on a busy 2-core primary two jobs made the workload's
    p99 24x its at-rest value, one job far less (docs/benchmarks.md, "under load")."""
    restore_jobs: int = Field(4, ge=1, le=64)
    """pg_restore -j workers of the verification restore (capped at the worker's cores)."""
    compression_level: int = Field(1, ge=0, le=9)
    """pg_dump's gzip level per file (0-9): 1 is several times faster than gzip's default 6 for ~10-20% more bytes."""
    lock_wait_timeout: Duration = timedelta(seconds=30)
    """pg_dump gives up instead of queueing behind an exclusive lock (it would block others)."""
    statement_timeout: Duration = timedelta(hours=4)
    """For the row counts taken in the dump's snapshot and in the verification database."""
    base_backup_every: Duration = timedelta(days=7)
    """A new physical base backup when the newest verified one is older than this (WAL fills the gap)."""
    incremental_base_backups: bool = True
    """On PostgreSQL 17 and later, each 6-hourly run between full base backups takes an incremental base backup
    (pg_basebackup --incremental from the previous one; needs summarize_wal = on, which deploy/bootstrap.sh sets), so a
    recovery replays at most 6 hours of WAL. Ignored before 17, where the WAL alone carries the run."""
    wal_slot: str = Field("aops_backup_wal", pattern=r"^[a-z0-9_]{1,63}$")
    """Physical replication slot pg_receivewal reads WAL through."""
    max_retained_wal_mb: int = Field(8192, ge=16)
    """The incremental DAG fails (and the health check warns) when the slot holds more WAL than this; also set
    max_slot_wal_keep_size on the server so a stopped DAG cannot fill its disk."""
    pg_bin_dir: str | None = None
    """Directory of pg_dump, pg_restore, pg_basebackup, ... of the server's major version; null = look in
    /usr/lib/postgresql/<major>/bin, then PATH."""
    recovery_root: str = "/var/tmp/analytics-ops-recovery"
    """Folder on the worker where analytics_pitr builds a recovered cluster (one sub-folder per run); it needs room
    for a whole base backup plus the WAL replayed."""
    os_user: str = "postgres"
    """Unprivileged OS user that runs the temporary cluster of a restore drill when the worker is root."""
    scratch_database_prefix: str = Field("aops_scratch_", pattern=r"^[a-z_][a-z0-9_]{0,30}$")
    """Verification restores into <prefix><backup id>, dropped afterwards."""

    @model_validator(mode="after")
    def _destination_is_a_url(self) -> BackupSettings:
        if "://" not in self.destination:
            raise ValueError(f"backups.destination must be a URL such as file:///var/backups, got {self.destination!r}")
        if self.destination.startswith("sftp://") and not self.destination_connection:
            raise ValueError(
                "backups.destination is an SFTP server: set backups.destination_connection to the Airflow "
                "connection with its host, login and key"
            )
        return self
