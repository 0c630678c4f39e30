"""Config of runbook 003's incident export (analytics_incident_export)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field

from analytics_ops.core.config_types import Duration, _Strict


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
