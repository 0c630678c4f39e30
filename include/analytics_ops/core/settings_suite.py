"""Config sections every DAG uses: Airflow, connections, sessions, DAG defaults, alerting, replication."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field, model_validator

from analytics_ops.core.config_types import Duration, Severity, _Strict
from analytics_ops.core.settings_alerts import AlertRule, EvaluatorSettings, Silence


class AirflowSettings(_Strict):
    base_url: str = "http://localhost:8080"
    """Where the Airflow UI is reached; alerts link to task logs under it."""
    owner: str = "data-platform"
    """Owner shown on every DAG of the suite."""


class Connections(_Strict):
    primary: str = "analytics_db"
    """The analytics PostgreSQL primary: every write, and the suite's own `ops` tables."""
    replica: str = "analytics_db_replica"
    """A streaming replica of the primary (reads that may lag, e.g. cache warming)."""
    redis: str = "analytics_redis"
    """The Redis cache that cache warming writes."""
    slack: str = "slack_ops"
    """The Slack incoming webhook used where no route says otherwise."""


class DatabaseSettings(_Strict):
    lock_timeout: Duration = timedelta(seconds=5)
    """Applied to every session the suite opens against production: a statement that waits longer than lock_timeout for
    a lock gives up (and the task retries later) instead of queueing behind production traffic; statement_timeout
    caps any single statement."""
    statement_timeout: Duration = timedelta(minutes=30)
    """Cap on any single statement of a suite session (some tasks set their own)."""


class DagDefaults(_Strict):
    retries: int = Field(3, ge=0, le=20)
    """Task retries before a task fails for good (and the final alert goes out)."""
    retry_delay: Duration = timedelta(minutes=2)
    """Wait before the first retry; it doubles with each retry."""
    max_retry_delay: Duration = timedelta(minutes=30)
    """Cap on the doubling retry wait."""
    severity: Severity = "P2"
    """Severity (P0-P3) of a DAG that names none: picks the Slack route and mention."""
    deadline: Duration = timedelta(hours=2)
    """A run not finished this long after it was queued sends a deadline-miss alert."""


class DagSettings(_Strict):
    """The settings of one DAG of the suite."""

    severity: Severity | None = None
    """This DAG's severity (P0-P3): its alerts' route and mention."""
    tags: list[str] = Field(default_factory=list)
    """Extra tags shown in the UI (the suite adds `analytics-ops` and `severity:Px`)."""
    deadline: Duration | None = None
    """Finished within this long of the run being queued (for a scheduled run: its scheduled time), or a deadline-miss
    alert goes out at the DAG's severity."""
    retries: int | None = Field(None, ge=0, le=20)
    """Overrides `dag_defaults.retries` for this DAG."""
    retry_delay: Duration | None = None
    """Overrides `dag_defaults.retry_delay` for this DAG."""
    max_retry_delay: Duration | None = None
    """Overrides `dag_defaults.max_retry_delay` for this DAG."""
    failed_run_alert_every: int = Field(1, ge=1, le=1440)
    """A failed run alerts when it is the 1st, the (1+n)th, the (1+2n)th ... failed run in a row: 1 alerts every failed
    run; a DAG that runs every minute sets more, so a broken one reminds instead of paging every minute."""


class Route(_Strict):
    """Where alerts of one severity go."""

    connection: str
    """Slack webhook connection id for this severity."""
    mention: str = ""
    """Mention put in front of the message (`<!here>`, `<@U123>`, or empty)."""


def _default_routes() -> dict[str, Route]:
    return {
        "P0": Route(connection="slack_oncall", mention="<!here>"),
        "P1": Route(connection="slack_oncall", mention="<!here>"),
        "P2": Route(connection="slack_ops"),
        "P3": Route(connection="slack_ops"),
    }


class AlertingSettings(_Strict):
    routes: dict[Severity, Route] = Field(default_factory=_default_routes)
    """Each severity: the Slack webhook connection to post to, and who to mention (empty: nobody). Escalation sends one
    severity up, so P0/P1 on the paging channel and P2/P3 on the team's makes an escalated P2 page."""
    warn_on_first_retry: bool = True
    """A task going into its first retry posts one quiet warning (team channel, no mention); later retries post
    nothing. The final failure always alerts."""
    bookkeeping_timeout: Duration = timedelta(seconds=5)
    """Bookkeeping of run outcomes (failed runs in a row) gives up after this long, so an unreachable database never
    holds back the alert about it."""
    evaluator: EvaluatorSettings = EvaluatorSettings()
    """The continuous evaluator (analytics_alert_evaluator, every minute): its timeouts, and whether it reads the
    product rules of `analytics_alert_rules`."""
    escalate_after: Duration = timedelta(minutes=30)
    """A firing alert still unresolved after this is sent again one severity up (runbook 000: "if alerts remain firing
    after 30 minutes, page"); a rule may set its own."""
    repeat_interval: Duration = timedelta(hours=4)
    """A firing alert is sent again (a reminder) this long after its last notification."""
    keep_firing_for: Duration = timedelta(minutes=5)
    """A firing alert resolves only once its condition has been false this long, so a flapping condition sends one
    firing and one resolved message, not one per flap."""
    rules: list[AlertRule] = Field(default_factory=list)
    """The ops rules the evaluator applies every minute: runbooks 000-004's thresholds."""
    silences: list[Silence] = Field(default_factory=list)
    """Maintenance windows muting matching alerts until their end."""

    @model_validator(mode="after")
    def _every_severity_routed(self) -> AlertingSettings:
        missing = sorted({"P0", "P1", "P2", "P3"} - set(self.routes))
        if missing:
            raise ValueError(f"routes: no route for severity {', '.join(missing)}")
        names = [rule.name for rule in self.rules]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"rules: two rules are named {', '.join(twice)}")
        return self


class ReplicationSettings(_Strict):
    max_lag_seconds: float = Field(60, gt=0)
    """Seconds a replica may be behind before write-heavy work waits."""
    max_lag_bytes: int = Field(64 * 1024 * 1024, gt=0)
    """Bytes of WAL the primary has sent or must send that a replica has not replayed yet."""
    replica_connections: list[str] = Field(default_factory=lambda: ["analytics_db_replica"])
    """Replicas measured from their own side too (bytes received but not replayed, and, while replay is paused, the
    seconds since the last replayed commit): this catches a replica whose replay is paused, which the primary's view
    (pg_stat_replication.replay_lag) can miss. Connection ids; may be empty."""
    when_no_replica: Literal["pass", "fail"] = "pass"
    """With no streaming replica attached to the primary: pass (single-node setups) or fail."""
    ignore_applications: list[str] = Field(default_factory=list)
    """WAL senders that are standbys but not read replicas, by application_name (exact, or a prefix ending in *): a
    delayed standby, a disaster-recovery standby nobody reads from. WAL archivers (pg_receivewal, Barman) and logical
    consumers are never counted, whatever this says."""
    poke_interval: Duration = timedelta(seconds=30)
    """How often the gate measures the lag while it waits."""
    timeout: Duration = timedelta(hours=1)
    """How long the gate waits for lag to come down before failing the run."""
