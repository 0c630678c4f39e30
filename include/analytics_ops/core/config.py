"""The suite's one config file, parsed into typed objects.

Read at DAG-parse time, so it must stay cheap: one small YAML file, parsed once per process and
cached. pydantic does the checking; every model forbids unknown keys so a typo fails loudly with
the key's path instead of being ignored. Every key is documented once, in its model: the docstring
below each field (pydantic's field description). docs/configuration.md and the comments of
config/analytics_ops.yaml are generated from the models (`make docs`, scripts/config_reference.py).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import Field, ValidationError, model_validator

from analytics_ops.core.config_types import (  # noqa: F401 (re-exported)
    Duration,
    Severity,
    _Strict,
)
from analytics_ops.core.package_files import PROJECT_ROOT, shipped_folder  # noqa: F401 (re-exported)
from analytics_ops.core.settings_exports import ORG_MODEL_CHECKS, IncidentExportSettings
from analytics_ops.core.settings_health import (  # noqa: F401 (re-exported)
    AgeLimits,
    DataHealth,
    HealthCheckSettings,
    PostgresHealth,
    RedisHealth,
    ReplicationHealth,
    SuiteHealth,
    WeeklyReviewSettings,
)
from analytics_ops.core.settings_ingest import IngestMergeSettings
from analytics_ops.core.settings_jobs import (  # noqa: F401 (re-exported)
    CACHE_METRICS,
    AggregationSettings,
    ArchivalSettings,
    BackupSettings,
    CacheSettings,
    MaintenanceSettings,
    MvGroup,
    MvRefreshSettings,
    OnlyWhen,
    PriorityWeights,
    RetentionPolicy,
    RetentionSettings,
    StuckWorkSettings,
)
from analytics_ops.core.settings_suite import (  # noqa: F401 (re-exported)
    AirflowSettings,
    AlertingSettings,
    Connections,
    DagDefaults,
    DagSettings,
    DatabaseSettings,
    ReplicationSettings,
    Route,
)
from analytics_ops.core.settings_transactions import TransactionSettings
from analytics_ops.core.settings_usage import UsageRollupSettings

# The models live in config_types and settings_*; everything imports them from here.

# The shipped config: config/analytics_ops.yaml of the checkout, or the installed package's copy.
DEFAULT_CONFIG_PATH = shipped_folder("config") / "analytics_ops.yaml"
# Where the API server mounts the Ops page (ops_page.app); alert messages link to it.
OPS_PAGE_PATH = "/analytics-ops"


class ConfigError(ValueError):
    """The config file is missing, unreadable or wrong; the message names the key."""


class SuiteConfig(_Strict):
    airflow: AirflowSettings = AirflowSettings()
    """How the suite presents itself in Airflow."""
    connections: Connections = Connections()
    """Airflow connection ids the suite reaches servers through."""
    database: DatabaseSettings = DatabaseSettings()
    """Session settings for every connection the suite opens."""
    dag_defaults: DagDefaults = DagDefaults()
    """Defaults for every DAG of the suite; a DAG's own section below overrides them."""
    dags: dict[str, DagSettings] = Field(default_factory=dict)
    """Per-DAG overrides, keyed by dag_id; anything not set falls back to `dag_defaults`."""
    aggregation: AggregationSettings = AggregationSettings()
    """The daily aggregation (tasks -> daily_analytics) and its backfills."""
    alerting: AlertingSettings = AlertingSettings()
    """Where alerts go. Severities follow runbook 001: P0 critical, P1 high, P2 medium, P3 low."""
    replication: ReplicationSettings = ReplicationSettings()
    """Replica-lag gate in front of write-heavy work (runbook 000: lag over 60 s means trouble)."""
    cache: CacheSettings = CacheSettings()
    """The Redis cache: warming (runbook 001, Cache Management) and clearing (runbook 004, Clear Cache)."""
    mv_refresh: MvRefreshSettings = MvRefreshSettings()
    """Materialized views, refreshed CONCURRENTLY (readers never blocked), one mapped task per view."""
    maintenance: MaintenanceSettings = MaintenanceSettings()
    """Weekly VACUUM / REINDEX (runbooks 001 and 002), Sundays 02:00 UTC."""
    archival: ArchivalSettings = ArchivalSettings()
    """Monthly archival of daily_analytics (runbook 001), first Sunday of the month, 02:00 UTC."""
    retention: RetentionSettings = RetentionSettings()
    """Retention (runbooks 002 and 004), daily 03:30 UTC: rows older than older_than are deleted in keyset batches (or
    moved, with archive_table), then the table is vacuumed."""
    stuck_work: StuckWorkSettings = StuckWorkSettings()
    """Every 15 minutes (runbook 002, INC-002 and INC-003)."""
    backups: BackupSettings = BackupSettings()
    """Backups (runbook 001 *Backup Strategy*): daily full pg_dump (analytics_backup_full), 6-hourly WAL with a weekly
    physical base backup (analytics_backup_incremental), manual restore (analytics_restore)."""
    health_check: HealthCheckSettings = HealthCheckSettings()
    """The morning routine (analytics_health_check, daily 08:00 UTC): runbook 001's daily health check and morning
    routine, runbook 002's daily checklist, runbook 003's freshness, runbook 000's backlog. Each check is ok, warn
    or critical; a critical check fails its task (and alerts at the DAG's severity), a warning only shows in the
    Slack digest. Results are kept in ops.health_check_results."""
    incident_export: IncidentExportSettings = IncidentExportSettings()
    """Runbook 003's incident export (analytics_incident_export, manual; analytics_incident_export_on_alert, started
    by a firing alert of `start_on_alerts`): the usage events of one organisation (and model) over a time window, as
    CSV in the runbook's column order, to the backups' object storage."""
    usage_rollup: UsageRollupSettings = UsageRollupSettings()
    """Runbook 003's usage rollups (analytics_usage_rollup, every 2 minutes): per organisation, model and hour of
    usage_events, recomputed for every hour new events arrived in; freshness_status (the runbook's shape) says how
    long the oldest event not yet rolled up has waited, and the evaluator's `freshness_lagging` alerts on it."""
    transactions: TransactionSettings = TransactionSettings()
    """Runbook 004's transaction analytics: analytics_txn_backfill (rebuild txn_hourly_agg from wallet_transactions by
    date range), analytics_txn_reconciliation (hourly: the last closed hours recomputed and compared) and
    analytics_txn_anomalies (hourly: each merchant's last hour scored against its history)."""
    ingest_merge: IngestMergeSettings = IngestMergeSettings()
    """Runbook 000's merge (analytics_ingest_merge, every 5 minutes): the rows the ingest stages in
    analytics_events_stage are folded into analytics_events_rollup per kind, in batches of one short transaction
    each, behind the per-kind kill switch and batch size of analytics_merge_control (an operator's lever, no deploy
    needed); these are the defaults of a kind that has no control row yet."""
    weekly_review: WeeklyReviewSettings = WeeklyReviewSettings()
    """The weekly review (analytics_weekly_review, Mondays 07:00 UTC): runbook 001's weekly health check and runbook
    002's weekly checklist. Findings are warnings in the digest, never failures."""

    @model_validator(mode="after")
    def _retry_delays_ordered(self) -> SuiteConfig:
        if self.dag_defaults.max_retry_delay < self.dag_defaults.retry_delay:
            raise ValueError("dag_defaults.max_retry_delay must not be shorter than dag_defaults.retry_delay")
        return self

    @model_validator(mode="after")
    def _exports_start_on_org_model_rules(self) -> SuiteConfig:
        rules = {rule.name: rule for rule in self.alerting.rules}
        for name in self.incident_export.start_on_alerts:
            if name not in rules:
                raise ValueError(
                    f"incident_export.start_on_alerts: {name!r} is not a rule of alerting.rules "
                    f"(rules: {', '.join(rules) or 'none'})"
                )
            if rules[name].check not in ORG_MODEL_CHECKS:
                raise ValueError(
                    f"incident_export.start_on_alerts: rule {name!r} watches {rules[name].check!r}, which is not "
                    f"per organisation and model; an export needs one of {', '.join(ORG_MODEL_CHECKS)}"
                )
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
