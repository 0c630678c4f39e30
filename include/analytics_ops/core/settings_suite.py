"""Config sections every DAG uses: Airflow, connections, sessions, DAG defaults, alerting, replication."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import Field, model_validator

from analytics_ops.core.config_types import Duration, Severity, _Strict


class AirflowSettings(_Strict):
    base_url: str = Field(
        "http://localhost:8080",
        description="Where the Airflow UI is reached; alerts link to task logs under it.",
    )
    owner: str = Field(
        "data-platform",
        description="Owner shown on every DAG of the suite.",
    )


class Connections(_Strict):
    primary: str = Field(
        "analytics_db",
        description="The analytics PostgreSQL primary: every write, and the suite's own `ops` tables.",
    )
    replica: str = Field(
        "analytics_db_replica",
        description="A streaming replica of the primary (reads that may lag, e.g. cache warming).",
    )
    redis: str = Field(
        "analytics_redis",
        description="The Redis cache that cache warming writes.",
    )
    slack: str = Field(
        "slack_ops",
        description="The Slack incoming webhook used where no route says otherwise.",
    )


class DatabaseSettings(_Strict):
    lock_timeout: Duration = Field(
        timedelta(seconds=5),
        description=(
            "Applied to every session the suite opens against production: a statement that waits longer than "
            "lock_timeout for a lock gives up (and the task retries later) instead of queueing behind "
            "production traffic; statement_timeout caps any single statement."
        ),
    )
    statement_timeout: Duration = Field(
        timedelta(minutes=30),
        description="Cap on any single statement of a suite session (some tasks set their own).",
    )


class DagDefaults(_Strict):
    retries: int = Field(
        3,
        ge=0,
        le=20,
        description="Task retries before a task fails for good (and the final alert goes out).",
    )
    retry_delay: Duration = Field(
        timedelta(minutes=2),
        description="Wait before the first retry; it doubles with each retry.",
    )
    max_retry_delay: Duration = Field(
        timedelta(minutes=30),
        description="Cap on the doubling retry wait.",
    )
    severity: Severity = Field(
        "P2",
        description="Severity (P0-P3) of a DAG that names none: picks the Slack route and mention.",
    )
    deadline: Duration = Field(
        timedelta(hours=2),
        description="A run not finished this long after it was queued sends a deadline-miss alert.",
    )


class DagSettings(_Strict):
    """The settings of one DAG of the suite."""

    severity: Severity | None = Field(
        None,
        description="This DAG's severity (P0-P3): its alerts' route and mention.",
    )
    tags: list[str] = Field(
        default_factory=list,
        description="Extra tags shown in the UI (the suite adds `analytics-ops` and `severity:Px`).",
    )
    deadline: Duration | None = Field(
        None,
        description=(
            "Finished within this long of the run being queued (for a scheduled run: its scheduled time), or a "
            "deadline-miss alert goes out at the DAG's severity."
        ),
    )
    retries: int | None = Field(
        None,
        ge=0,
        le=20,
        description="Overrides `dag_defaults.retries` for this DAG.",
    )
    retry_delay: Duration | None = Field(
        None,
        description="Overrides `dag_defaults.retry_delay` for this DAG.",
    )
    max_retry_delay: Duration | None = Field(
        None,
        description="Overrides `dag_defaults.max_retry_delay` for this DAG.",
    )


class Route(_Strict):
    """Where alerts of one severity go."""

    connection: str = Field(
        description="Slack webhook connection id for this severity.",
    )
    mention: str = Field(
        "",
        description="Mention put in front of the message (`<!here>`, `<@U123>`, or empty).",
    )


def _default_routes() -> dict[str, Route]:
    return {
        "P0": Route(connection="slack_ops", mention="<!here>"),
        "P1": Route(connection="slack_ops", mention="<!here>"),
        "P2": Route(connection="slack_ops"),
        "P3": Route(connection="slack_ops"),
    }


class AlertingSettings(_Strict):
    routes: dict[Severity, Route] = Field(
        default_factory=_default_routes,
        description="Each severity: the Slack webhook connection to post to, and who to mention (empty: nobody).",
    )
    escalate_after_failed_runs: int = Field(
        2,
        ge=1,
        le=100,
        description=(
            "A DAG whose runs have failed this many times in a row (with no success between) alerts one "
            'severity higher: runbook 000\'s "if alerts remain firing after 30 minutes, page".'
        ),
    )
    warn_on_first_retry: bool = Field(
        True,
        description=(
            "A task going into its first retry posts one quiet warning (team channel, no mention); later "
            "retries post nothing. The final failure always alerts."
        ),
    )
    bookkeeping_timeout: Duration = Field(
        timedelta(seconds=5),
        description=(
            "Bookkeeping of run outcomes (for the streak above) gives up after this long, so an unreachable "
            "database never holds back the alert about it."
        ),
    )

    @model_validator(mode="after")
    def _every_severity_routed(self) -> AlertingSettings:
        missing = sorted({"P0", "P1", "P2", "P3"} - set(self.routes))
        if missing:
            raise ValueError(f"routes: no route for severity {', '.join(missing)}")
        return self


class ReplicationSettings(_Strict):
    max_lag_seconds: float = Field(
        60,
        gt=0,
        description="Seconds a replica may be behind before write-heavy work waits.",
    )
    max_lag_bytes: int = Field(
        64 * 1024 * 1024,
        gt=0,
        description="Bytes of WAL the primary has sent or must send that a replica has not replayed yet.",
    )
    replica_connections: list[str] = Field(
        default_factory=lambda: ["analytics_db_replica"],
        description=(
            "Replicas measured from their own side too (seconds since the last replayed commit while WAL is "
            "waiting): this catches a replica whose replay is paused or stuck, which the primary's view "
            "(pg_stat_replication.replay_lag) can miss. Connection ids; may be empty."
        ),
    )
    when_no_replica: Literal["pass", "fail"] = Field(
        "pass",
        description="With no streaming replica attached to the primary: pass (single-node setups) or fail.",
    )
    poke_interval: Duration = Field(
        timedelta(seconds=30),
        description="How often the gate measures the lag while it waits.",
    )
    timeout: Duration = Field(
        timedelta(hours=1),
        description="How long the gate waits for lag to come down before failing the run.",
    )
