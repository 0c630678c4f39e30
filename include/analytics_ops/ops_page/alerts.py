"""The Ops page's "Alerts" section: what the continuous alert evaluator has firing or pending now.

Read from the evaluator's tables on the analytics primary (migration 010): the open episodes of
`ops.alerts`, its heartbeat (`ops.alert_evaluator_heartbeat`: when it last evaluated, how many
rules, how long it took), and, in the last hour, the notifications it could not deliver
(`ops.alert_notifications`) and the product rules it could not evaluate (`ops.alert_rule_failures`).
The evaluator runs every minute: a heartbeat older than `EVALUATOR_STALE_AFTER` means it is not
running (paused, failing, or no scheduler), and the page says so.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from analytics_ops.core.config_types import escalate
from analytics_ops.ops_page.overview import Section, _dicts, age_seconds, human_age

EVALUATOR_STALE_AFTER = timedelta(minutes=5)  # five missed minutes (its deadline, dags.analytics_alert_evaluator)


def labels_text(labels: dict[str, Any] | None) -> str:
    return ", ".join(f"{key}={value}" for key, value in sorted((labels or {}).items()))


def evaluator_facts(conn: Any, now: datetime) -> dict[str, Any]:
    facts = _dicts(conn, "ops_page/alert_evaluator", {"now": now})[0]
    age = age_seconds(facts["evaluated_at"], now)
    facts["age_seconds"] = age
    facts["stale"] = age is None or age > EVALUATOR_STALE_AFTER.total_seconds()
    return facts


def evaluator_line(facts: dict[str, Any]) -> str:
    if facts["evaluated_at"] is None:
        heartbeat = "the evaluator has not run yet"
    else:
        heartbeat = (
            f"last evaluation {human_age(facts['age_seconds'])} ago, {facts['rules']} rules, "
            f"{facts['duration_ms']:.0f} ms"
        )
        if facts["stale"]:
            heartbeat += " (it runs every minute: is analytics_alert_evaluator paused or failing?)"
    return (
        f"{heartbeat}; in the last hour {facts['undelivered_last_hour']} undelivered notifications, "
        f"{facts['rule_failures_last_hour']} product-rule failures"
    )


def open_alerts(conn: Any, *, present: bool, now: datetime) -> Section:
    if not present:
        return Section(
            "not_set_up", [], "ops.alerts does not exist yet: the alert evaluator is not set up (migration 010)"
        )
    rows = _dicts(conn, "ops_page/open_alerts")
    for row in rows:
        row["labels_text"] = labels_text(row["labels"])
        row["escalated"] = row["escalated_at"] is not None
        # Escalated, it goes one severity up (alerting's Alert.effective_severity): show where it is now.
        row["shown_severity"] = escalate(row["severity"]) if row["escalated"] else row["severity"]
        row["since"] = row["firing_since"] if row["state"] == "firing" else row["active_since"]
        row["age_seconds"] = age_seconds(row["since"], now)
    # Firing first, the most severe as it stands now (an escalated P2 is a P1), then the longest-standing.
    rows.sort(key=lambda r: (r["state"] != "firing", r["shown_severity"], r["since"]))
    facts = evaluator_facts(conn, now)
    note = evaluator_line(facts)
    if not rows:
        note = f"nothing firing or pending; {note}"
    return Section("ok", rows, note, facts)
