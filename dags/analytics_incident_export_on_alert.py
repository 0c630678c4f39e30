"""
# Incident export on alert: the window of a firing error-rate spike, exported by itself

Automates runbook 003's *Error Rate Spike Alert*, "Immediate actions: export incident data
immediately": when an alert of a rule in `incident_export.start_on_alerts` (shipped:
`usage_error_rate_spike`) fires, its organisation and model (the alert's `item`, `org/model`) are
exported over `incident_export.alert_window` (20 minutes: the 15 minutes the spike is compared with
and the 5 it rose in) up to when it fired, as `analytics_incident_export` would by hand.

**Schedule:** on the Asset `incident_export_requests`. `analytics_alert_evaluator` records one
request per firing in `ops.incident_exports` (no run yet) and emits the Asset's event while requests
wait untaken; a request whose event was lost (the evaluator's run failed) is announced again by the
next successful evaluation. One run at a time.

**What it does**
1. `take_alert_requests`: takes every waiting request into this run in one statement (a request is
   taken once, whatever runs overlap). None waiting (an earlier run took them): nothing to do, the
   run succeeds.
2. `export_csv` (one mapped task per request): the CSV into
   `<backups.destination>/<incident_export.folder>/<org_id>/`, as `analytics_incident_export` writes it;
   the request's row gets its rows, bytes and location, or the error.
3. `post_link` (one per export): the link, the row count and the alert that asked, to
   `incident_export.notify_connection`.

See the exports alerts asked for: `SELECT id, alert_rule, org_id, model_id, window_start, status, run_id
FROM ops.incident_exports WHERE alert_fingerprint IS NOT NULL ORDER BY id DESC LIMIT 20;` (run_id NULL:
not taken yet). The Ops page lists exports stuck pending (also a request no run took for 30 minutes:
is this DAG paused?) and failed ones.

## When it fails (on call)
- **`take_alert_requests` failed**: *could not connect*: the primary is down (runbook 001 P0); the
  requests wait, and the next evaluation after it answers announces them again. A missing column:
  migration 019 is not applied (run the migrations).
- **`export_csv` failed**: that export is marked failed in `ops.incident_exports` with the error and a
  partial file is removed; the other exports of the run go on. *statement timeout*: the window is too
  big for `incident_export.statement_timeout`. *Permission denied* / a storage error: the backups'
  destination (`backups.destination`, docs/backups.md). Clear the task to try again, or trigger
  `analytics_incident_export` by hand with the window from the failed row.
- **`post_link` failed**: the CSV is written and recorded (its location is in `ops.incident_exports`);
  Slack did not take the message. Clear the task to post again.
"""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.sdk import dag, task

from analytics_ops.core.assets import INCIDENT_EXPORT_REQUESTS
from analytics_ops.core.dag_defaults import suite_dag_args
from analytics_ops.exports import tasks as exports

DAG_ID = "analytics_incident_export_on_alert"


@dag(
    schedule=[INCIDENT_EXPORT_REQUESTS],
    start_date=datetime(2020, 1, 1, tzinfo=UTC),
    max_active_runs=1,
    **suite_dag_args(DAG_ID, doc_md=__doc__),
)
def analytics_incident_export_on_alert():
    taken = task(exports.take_alert_requests)()
    task(exports.post_link).expand(result=task(exports.export_csv).expand(asked=taken))


analytics_incident_export_on_alert()
