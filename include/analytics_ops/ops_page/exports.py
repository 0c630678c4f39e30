"""The Ops page's "Incident exports" section: exports stuck pending and exports that failed.

Read from `ops.incident_exports` (analytics_incident_export, migration 016; the requests of firing
alerts for analytics_incident_export_on_alert, migration 019). An export runs in seconds; one still
pending after `STUCK_AFTER` is stuck (its task died without marking it: a worker lost, the run
killed; or, with no run_id, no run took the request: is analytics_incident_export_on_alert paused?),
runbook 003's "Job stuck in pending". Failures of the last `FAILED_WITHIN`
are listed with their error ("Job failed").
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from analytics_ops.ops_page.overview import Section, _dicts

STUCK_AFTER = timedelta(minutes=30)
FAILED_WITHIN = timedelta(days=7)


def incident_exports(conn: Any, *, present: bool, now: datetime) -> Section:
    if not present:
        return Section("not_set_up", [], "ops.incident_exports does not exist yet (migration 016)")
    rows = _dicts(
        conn,
        "ops_page/incident_exports",
        {"now": now, "stuck_after": f"{STUCK_AFTER.total_seconds():.0f} seconds",
         "failed_within": f"{FAILED_WITHIN.total_seconds():.0f} seconds"},
    )  # fmt: skip
    stuck = sum(1 for row in rows if row["stuck"])
    failed = len(rows) - stuck
    if not rows:
        note = "no export stuck pending or failed in the last 7 days"
    else:
        note = (
            f"{stuck} stuck pending over 30 min, {failed} failed in the last 7 days: the error says why "
            "(runbook 003 Export Job Troubleshooting); trigger analytics_incident_export again"
        )
    return Section("ok", rows, note)
