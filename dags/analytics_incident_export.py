"""
# Incident export: one organisation's usage events over a window, as CSV (manual)

Automates runbook 003's *Incident Export* and the "Export Incident Data" step of its *Freshness Lag*
and *Error Rate Spike* alerts: what the runbook does with `exports.NewIncidentExporter(store,
logger).Export(ctx, ExportRequest{OrgID, ModelID, Start, End, MaxRows: 10000})`.

**Schedule:** none; trigger it from the UI with the incident's window. An alert of
`incident_export.start_on_alerts` (shipped: `usage_error_rate_spike`) starts its own export by
itself, through `analytics_incident_export_on_alert` (same CSV, same table, same Slack channel):
trigger this one for another window, another organisation, or an alert that is not in that list.

**Params** (every one checked before anything runs; a wrong one fails `check_params` with what to
type, and nothing is recorded or written)
- `org_id`: the organisation (required; letters, digits, `.`, `_`, `:`, `-`).
- `model_id`: only this model's events (optional; empty: every model).
- `start`, `end`: the incident window, ISO 8601 with a time zone (`2026-11-30T14:00:00Z`); `end`
  after `start`, not in the future, at most `incident_export.max_days` (31) days apart. Events with
  `start <= occurred_at < end`.
- `max_rows`: at most this many events, oldest first (default 10,000, as the runbook's; at most
  `incident_export.max_rows_limit`).

**What it does**
1. `check_params`: the checks above, then the export is recorded as pending in
   `ops.incident_exports`.
2. `export_csv`: `COPY (SELECT ...) TO STDOUT (FORMAT csv, HEADER)` streamed chunk by chunk (its memory
   does not grow with the rows) to
   `<backups.destination>/<incident_export.folder>/<org_id>/<start>_<end>[_<model>]_<id>.csv`, in the
   runbook's column order: event_id, org_id, occurred_at, received_at (RFC 3339, UTC), model_id,
   actor_id, input_tokens, output_tokens, latency_ms, status, error_code, cost_estimate_cents,
   metadata. The export's row gets its rows, bytes, location and whether `max_rows` cut it.
3. `post_link`: the location and the row count to `incident_export.notify_connection` (the team's
   Slack channel).

See the exports: `SELECT * FROM ops.incident_exports ORDER BY requested_at DESC LIMIT 20;`; the Ops
page lists exports stuck pending and those that failed.

## When it fails (on call)
- **`check_params` failed**: a param was refused (the message names it and says what to type):
  nothing was recorded or written. Trigger again with corrected params. *could not connect*: the
  primary is down (runbook 001 P0).
- **`export_csv` failed**: the export is marked failed in `ops.incident_exports` with the error, and
  a partial file is removed. *statement timeout*: the window is too big for `incident_export.
  statement_timeout`; export a shorter window or fewer rows. *Permission denied* / a storage error:
  the backups' destination (runbook 003 *Job failed*: "verify S3 bucket exists and credentials have
  permissions"; `backups.destination`, docs/backups.md). Clear the task to try again.
- **`post_link` failed**: the CSV is written and recorded (its location is in
  `ops.incident_exports`); Slack did not take the message. Clear the task to post again.
"""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.sdk import Param, dag, task

from analytics_ops.core.config import load_config
from analytics_ops.core.dag_defaults import suite_dag_args
from analytics_ops.exports import tasks as exports

DAG_ID = "analytics_incident_export"
SETTINGS = load_config().incident_export


@dag(
    schedule=None,
    start_date=datetime(2020, 1, 1, tzinfo=UTC),
    max_active_runs=4,
    params={
        "org_id": Param(
            "", type="string", title="Organisation", description="The organisation whose events to export."
        ),
        "model_id": Param(
            None, type=["null", "string"], title="Model (optional)", description="Only this model's events."
        ),
        "start": Param(
            "",
            type="string",
            title="Start",
            description="ISO 8601 with a time zone, e.g. 2026-11-30T14:00:00Z (included).",
        ),
        "end": Param(
            "",
            type="string",
            title="End",
            description=f"ISO 8601 with a time zone (excluded); not in the future, at most {SETTINGS.max_days} "
            "days after start.",
        ),
        "max_rows": Param(
            SETTINGS.default_max_rows,
            type="integer",
            title="Max rows",
            description=f"At most this many events, oldest first (1 to {SETTINGS.max_rows_limit:,}).",
        ),
    },
    **suite_dag_args(DAG_ID, doc_md=__doc__),
)
def analytics_incident_export():
    asked = task(exports.check_params)()
    task(exports.post_link)(task(exports.export_csv)(asked))


analytics_incident_export()
