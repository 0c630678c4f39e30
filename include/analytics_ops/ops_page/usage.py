"""The Ops page's "Usage rollup freshness" section (runbook 003 *Freshness Lag*).

Read from `freshness_status` (migration 018: per organisation and model, how long the oldest usage
event not yet rolled up has waited) and `usage_rollup_watermark` (when analytics_usage_rollup last
succeeded). Lists the series with events waiting, the most behind first; over `CRITICAL_AFTER` is
the runbook's critical lag (the evaluator's `freshness_lagging` pages for it).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from analytics_ops.ops_page.overview import Section, _dicts, age_seconds, human_age

CRITICAL_AFTER = timedelta(minutes=10)
SHOWN = 20


def usage_freshness(conn: Any, *, present: bool, now: datetime) -> Section:
    if not present:
        return Section("not_set_up", [], "freshness_status does not exist yet (migration 018)")
    facts = _dicts(conn, "ops_page/usage_rollup")[0]
    rows = _dicts(conn, "ops_page/usage_freshness", {"shown": SHOWN})
    for row in rows:
        row["lag_text"] = human_age(row["lag_seconds"])
        row["critical"] = row["lag_seconds"] > CRITICAL_AFTER.total_seconds()
    age = age_seconds(facts["last_success_at"], now)
    last = "analytics_usage_rollup has not completed a run yet" if age is None else (
        f"analytics_usage_rollup last completed {human_age(age)} ago (it runs every 2 minutes)"
    )  # fmt: skip
    waiting = f"{facts['behind']} of {facts['series']} organisation/model series have events waiting for the rollup"
    critical = sum(row["critical"] for row in rows)
    if critical:
        waiting += f", {critical} over 10 min (runbook 003 Freshness Lag: is the rollup running?)"
    return Section("ok", rows, f"{waiting}; {last}", facts)
