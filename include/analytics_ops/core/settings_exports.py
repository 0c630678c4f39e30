"""Config of runbook 003's incident export (analytics_incident_export)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, model_validator

from analytics_ops.core.config_types import Duration, _Strict

# The checks whose results are one per organisation and model (item "<org_id>/<model_id>",
# alerting/checks_usage.py): the only alerts an incident export can be started for.
ORG_MODEL_CHECKS = ("usage_error_rate", "usage_error_rate_rise", "usage_latency_p95", "usage_latency_p99",
                    "usage_latency_rise", "usage_freshness")  # fmt: skip


class IncidentExportSettings(_Strict):
    max_days: int = Field(31, ge=1, le=366)
    """Longest window one export may cover, in days (runbook 003: "max 31 days")."""
    default_max_rows: int = Field(10_000, ge=1)
    """Rows exported when the trigger form leaves `max_rows` at its default (runbook 003: `MaxRows: 10000`)."""
    max_rows_limit: int = Field(1_000_000, ge=1, le=100_000_000)
    """The most rows one export may be asked for: a bigger `max_rows` is refused."""
    folder: str = Field("incident-exports", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)*$")
    """Folder under the backups' destination (`backups.destination`: the same object storage and connection) where
    the CSV files go, one sub-folder per organisation."""
    notify_connection: str = Field("slack_ops", min_length=1)
    """Slack webhook connection the link to each finished export is posted to."""
    statement_timeout: Duration = timedelta(minutes=10)
    """Cap on the export's `COPY` (streaming a million rows takes seconds; a stuck one is stopped)."""
    start_on_alerts: list[str] = Field(default_factory=list)
    """Alert rules (names of `alerting.rules`) whose firing starts an export by itself
    (analytics_incident_export_on_alert): the organisation and model of the alert's `item`, over `alert_window`
    before it fired; once per firing. Each must be a rule on a per-organisation-and-model check (`usage_*`).
    Empty: exports are only started by hand."""
    alert_window: Duration = timedelta(minutes=20)
    """The window an alert-started export covers: this long before the alert fired, up to when it fired (20m:
    the spike rule compares the last 5 minutes with the 15 before)."""

    @model_validator(mode="after")
    def _alert_window_in_range(self) -> IncidentExportSettings:
        if not timedelta(0) < self.alert_window <= timedelta(days=self.max_days):
            raise ValueError(f"incident_export.alert_window must be over 0 and at most max_days ({self.max_days} days)")
        return self
