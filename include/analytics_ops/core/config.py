"""The suite's one config file, parsed into typed objects.

Read at DAG-parse time, so it must stay cheap: one small YAML file, parsed once per process and
cached. pydantic does the checking; every model forbids unknown keys so a typo fails loudly with
the key's path instead of being ignored.
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

PROJECT_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_CONFIG_PATH = PROJECT_ROOT / "config" / "analytics_ops.yaml"

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h|d)\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


def _parse_duration(value: object) -> object:
    # pydantic reads ISO 8601 ("PT5M") and plain seconds; operators write "5m", as in postgresql.conf.
    if isinstance(value, str) and not value.startswith("P"):  # "P..." is ISO 8601: pydantic reads it
        match = _DURATION.match(value)
        if not match:
            raise ValueError(f"{value!r} is not a duration; write a number and a unit, e.g. 30s, 5m, 2h, 7d")
        return timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2)])
    return value


Duration = Annotated[timedelta, BeforeValidator(_parse_duration)]
Severity = Literal["P0", "P1", "P2", "P3"]


class ConfigError(ValueError):
    """The config file is missing, unreadable or wrong; the message names the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AirflowSettings(_Strict):
    base_url: str = "http://localhost:8080"
    owner: str = "data-platform"


class Connections(_Strict):
    primary: str = "analytics_db"
    replica: str = "analytics_db_replica"
    redis: str = "analytics_redis"
    slack: str = "slack_ops"


class DatabaseSettings(_Strict):
    lock_timeout: Duration = timedelta(seconds=5)
    statement_timeout: Duration = timedelta(minutes=30)


class DagDefaults(_Strict):
    retries: int = Field(3, ge=0, le=20)
    retry_delay: Duration = timedelta(minutes=2)
    max_retry_delay: Duration = timedelta(minutes=30)
    severity: Severity = "P2"
    deadline: Duration = timedelta(hours=2)


class DagSettings(_Strict):
    severity: Severity | None = None
    tags: list[str] = Field(default_factory=list)
    deadline: Duration | None = None
    retries: int | None = Field(None, ge=0, le=20)
    retry_delay: Duration | None = None
    max_retry_delay: Duration | None = None


class PriorityWeights(_Strict):
    low: float = Field(1, ge=0)
    medium: float = Field(2, ge=0)
    high: float = Field(3, ge=0)
    urgent: float = Field(4, ge=0)


class AggregationSettings(_Strict):
    max_backfill_days: int = Field(366, ge=1, le=3660)
    chunk_days: int = Field(31, ge=1, le=366)
    parallel_chunks: int = Field(2, ge=1, le=32)
    priority_weights: PriorityWeights = PriorityWeights()
    overdue_penalty: float = Field(0.5, ge=0)


class Route(_Strict):
    connection: str
    mention: str = ""


def _default_routes() -> dict[str, Route]:
    return {
        "P0": Route(connection="slack_ops", mention="<!here>"),
        "P1": Route(connection="slack_ops", mention="<!here>"),
        "P2": Route(connection="slack_ops"),
        "P3": Route(connection="slack_ops"),
    }


class AlertingSettings(_Strict):
    routes: dict[Severity, Route] = Field(default_factory=_default_routes)
    escalate_after_failed_runs: int = Field(2, ge=1, le=100)
    warn_on_first_retry: bool = True
    bookkeeping_timeout: Duration = timedelta(seconds=5)

    @model_validator(mode="after")
    def _every_severity_routed(self) -> AlertingSettings:
        missing = sorted({"P0", "P1", "P2", "P3"} - set(self.routes))
        if missing:
            raise ValueError(f"routes: no route for severity {', '.join(missing)}")
        return self


class ReplicationSettings(_Strict):
    max_lag_seconds: float = Field(60, gt=0)
    max_lag_bytes: int = Field(64 * 1024 * 1024, gt=0)
    replica_connections: list[str] = Field(default_factory=lambda: ["analytics_db_replica"])
    when_no_replica: Literal["pass", "fail"] = "pass"
    poke_interval: Duration = timedelta(seconds=30)
    timeout: Duration = timedelta(hours=1)


CACHE_METRICS = ("task_totals", "completion_rate", "priority_distribution", "status_distribution", "productivity_score")


class CacheSettings(_Strict):
    read_from: Literal["replica", "primary"] = "replica"
    active_days: int = Field(7, ge=1, le=365)
    chunk_users: int = Field(10_000, ge=1, le=1_000_000)
    parallel_chunks: int = Field(2, ge=1, le=64)
    pipeline_commands: int = Field(5_000, ge=1, le=100_000)
    ttl: Duration = timedelta(hours=7)
    key_template: str = "analytics:{metric}:{user_id}"
    overview_key_template: str = "analytics:overview:{user_id}"
    hygiene_pattern: str = "analytics:*"
    scan_count: int = Field(1_000, ge=10, le=100_000)

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
    views: list[str] = Field(min_length=1)


class MvRefreshSettings(_Strict):
    pool: str = "mv_refresh"
    pool_slots: int = Field(2, ge=1, le=64)
    statement_timeout: Duration = timedelta(minutes=30)
    groups: dict[str, MvGroup] = Field(default_factory=dict)

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
    vacuum_tables: list[str] = Field(default_factory=lambda: ["tasks", "daily_analytics"])
    dead_tuple_pct: float = Field(20, gt=0, le=100)
    min_dead_tuples: int = Field(10_000, ge=0)
    reindex_bloat_pct: float = Field(30, gt=0, le=100)
    min_index_bytes: int = Field(8 * 1024 * 1024, ge=0)
    statement_timeout: Duration = timedelta(hours=2)


class ArchivalSettings(_Strict):
    retention_years: int = Field(2, ge=1, le=50)
    min_retention_days: int = Field(90, ge=1)
    batch_rows: int = Field(10_000, ge=1, le=1_000_000)
    max_batch_rows: int = Field(200_000, ge=1)
    target_batch_seconds: float = Field(0.5, gt=0, le=60)
    batch_statement_timeout: Duration = timedelta(seconds=30)
    parallel_workers: int = Field(2, ge=1, le=16)
    top_statements: int = Field(100, ge=1, le=10_000)


class OnlyWhen(_Strict):
    column: str
    equals: str


class RetentionPolicy(_Strict):
    table: str
    key_column: str
    timestamp_column: str
    older_than: Duration
    only_when: OnlyWhen | None = None
    archive_table: str | None = None


class RetentionSettings(_Strict):
    batch_rows: int = Field(5_000, ge=1, le=1_000_000)
    policies: list[RetentionPolicy] = Field(default_factory=list)


class StuckWorkSettings(_Strict):
    stuck_after: Duration = timedelta(minutes=30)
    idle_in_transaction_limit: Duration = timedelta(minutes=10)
    # application_name prefixes whose sessions are never terminated (the suite's own never are).
    allow_applications: list[str] = Field(default_factory=list)


class BackupSettings(_Strict):
    destination: str = "file:///var/backups/analytics-ops"
    destination_shared_by_workers: bool = False
    destination_connection: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]{1,250}$")
    retention_days: int = Field(30, ge=1)
    dump_jobs: int = Field(4, ge=1, le=64)
    restore_jobs: int = Field(4, ge=1, le=64)
    compression_level: int = Field(1, ge=0, le=9)
    lock_wait_timeout: Duration = timedelta(seconds=30)
    statement_timeout: Duration = timedelta(hours=4)
    base_backup_every: Duration = timedelta(days=7)
    wal_slot: str = Field("aops_backup_wal", pattern=r"^[a-z0-9_]{1,63}$")
    max_retained_wal_mb: int = Field(8192, ge=16)
    pg_bin_dir: str | None = None
    os_user: str = "postgres"
    scratch_database_prefix: str = Field("aops_scratch_", pattern=r"^[a-z_][a-z0-9_]{0,30}$")

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


class AgeLimits(_Strict):
    """How old the newest successful run of a job may be: older is a warning, then critical."""

    warn_after: Duration
    critical_after: Duration

    @model_validator(mode="after")
    def _ordered(self) -> AgeLimits:
        if self.critical_after < self.warn_after:
            raise ValueError("critical_after must not be shorter than warn_after")
        return self


class PostgresHealth(_Strict):
    connections_warn_pct: float = Field(80, gt=0, le=100)
    connections_critical_pct: float = Field(95, gt=0, le=100)
    idle_in_transaction_warn_after: Duration = timedelta(minutes=1)
    idle_in_transaction_critical_after: Duration = timedelta(minutes=10)
    long_query_warn_after: Duration = timedelta(minutes=5)
    long_query_critical_after: Duration = timedelta(minutes=30)
    buffer_cache_hit_warn_pct: float = Field(90, ge=0, le=100)
    buffer_cache_hit_critical_pct: float = Field(80, ge=0, le=100)
    buffer_cache_min_blocks: int = Field(10_000, ge=0)


class ReplicationHealth(_Strict):
    lag_warn_seconds: float = Field(30, gt=0)
    lag_critical_seconds: float = Field(60, gt=0)
    lag_warn_bytes: int = Field(16 * 1024 * 1024, gt=0)
    lag_critical_bytes: int = Field(64 * 1024 * 1024, gt=0)
    slot_retained_warn_bytes: int = Field(1024**3, gt=0)
    slot_retained_critical_bytes: int = Field(8 * 1024**3, gt=0)


class RedisHealth(_Strict):
    memory_warn_pct: float = Field(75, gt=0, le=100)
    memory_critical_pct: float = Field(90, gt=0, le=100)
    hit_rate_warn_pct: float = Field(70, ge=0, le=100)
    hit_rate_min_lookups: int = Field(100, ge=1)
    evicted_keys_warn_per_hour: float = Field(1000, ge=0)


class DataHealth(_Strict):
    freshness_warn_after: Duration = timedelta(minutes=5)
    freshness_critical_after: Duration = timedelta(minutes=10)
    staging_backlog_warn_rows: int = Field(10_000, ge=1)
    staging_backlog_critical_rows: int = Field(100_000, ge=1)
    stuck_jobs_critical_after: Duration = timedelta(hours=2)


def _default_mv_ages() -> dict[str, AgeLimits]:
    return {
        "evening": AgeLimits(warn_after=timedelta(hours=26), critical_after=timedelta(hours=50)),
        "frequent": AgeLimits(warn_after=timedelta(hours=1), critical_after=timedelta(hours=3)),
    }


class SuiteHealth(_Strict):
    backup: AgeLimits = AgeLimits(warn_after=timedelta(hours=26), critical_after=timedelta(hours=50))
    when_backups_not_set_up: Literal["warn", "critical"] = "warn"
    archival: AgeLimits = AgeLimits(warn_after=timedelta(days=36), critical_after=timedelta(days=64))
    cache_warm: AgeLimits = AgeLimits(warn_after=timedelta(hours=7), critical_after=timedelta(hours=13))
    mv_refresh: dict[str, AgeLimits] = Field(default_factory=_default_mv_ages)


class HealthCheckSettings(_Strict):
    statement_timeout: Duration = timedelta(seconds=30)
    postgres: PostgresHealth = PostgresHealth()
    replication: ReplicationHealth = ReplicationHealth()
    redis: RedisHealth = RedisHealth()
    data: DataHealth = DataHealth()
    suite: SuiteHealth = SuiteHealth()

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
    top_statements: int = Field(10, ge=1, le=100)
    compare_after: Duration = timedelta(days=6)
    growth_warn_pct: float = Field(20, gt=0)
    growth_min_bytes: int = Field(10 * 1024 * 1024, ge=0)
    table_bloat_warn_pct: float = Field(30, gt=0, le=100)
    table_bloat_min_bytes: int = Field(8 * 1024 * 1024, ge=0)
    unused_index_min_bytes: int = Field(1024 * 1024, ge=0)


class SuiteConfig(_Strict):
    airflow: AirflowSettings = AirflowSettings()
    connections: Connections = Connections()
    database: DatabaseSettings = DatabaseSettings()
    dag_defaults: DagDefaults = DagDefaults()
    dags: dict[str, DagSettings] = Field(default_factory=dict)
    aggregation: AggregationSettings = AggregationSettings()
    alerting: AlertingSettings = AlertingSettings()
    replication: ReplicationSettings = ReplicationSettings()
    cache: CacheSettings = CacheSettings()
    mv_refresh: MvRefreshSettings = MvRefreshSettings()
    maintenance: MaintenanceSettings = MaintenanceSettings()
    archival: ArchivalSettings = ArchivalSettings()
    retention: RetentionSettings = RetentionSettings()
    stuck_work: StuckWorkSettings = StuckWorkSettings()
    backups: BackupSettings = BackupSettings()
    health_check: HealthCheckSettings = HealthCheckSettings()
    weekly_review: WeeklyReviewSettings = WeeklyReviewSettings()

    @model_validator(mode="after")
    def _retry_delays_ordered(self) -> SuiteConfig:
        if self.dag_defaults.max_retry_delay < self.dag_defaults.retry_delay:
            raise ValueError("dag_defaults.max_retry_delay must not be shorter than dag_defaults.retry_delay")
        return self

    def dag(self, dag_id: str) -> DagSettings:
        return self.dags.get(dag_id, DagSettings())

    def severity(self, dag_id: str) -> str:
        return self.dag(dag_id).severity or self.dag_defaults.severity


def _describe(error: ValidationError, path: Path) -> str:
    lines = [f"invalid config {path}:"]
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "(top level)"
        if item["type"] == "extra_forbidden":
            lines.append(f"  {key}: unknown key (check its spelling against the documented keys)")
        else:
            lines.append(f"  {key}: {item['msg']} (got {item.get('input')!r})")
    return "\n".join(lines)


def parse_config(text: str, path: Path) -> SuiteConfig:
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid config {path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"invalid config {path}: the top level must be a mapping of sections")
    try:
        return SuiteConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, path)) from None


def config_path() -> Path:
    return Path(os.environ.get("ANALYTICS_OPS_CONFIG", DEFAULT_CONFIG_PATH))


@lru_cache(maxsize=4)
def _parse_cached(text: str, path: Path) -> SuiteConfig:
    return parse_config(text, path)


def load_config() -> SuiteConfig:
    """The suite's config. Reading the small file is cheap; parsing happens once per distinct content."""
    path = config_path()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc.strerror}") from None
    return _parse_cached(text, path)
