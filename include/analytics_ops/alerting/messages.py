"""Escalation to Slack by severity: what an alert says, where it goes, and when it escalates.

Severities follow runbook 001: P0 critical … P3 low. Each DAG's severity comes from config. Routing:
`alerting.routes[severity]` names the Slack webhook connection and who to mention.

Task alerts:
- a task going into its first retry posts one quiet warning (no mention); later retries post nothing;
- a task's final failure alerts at the DAG's severity, showing the failed runs in a row (from
  `ops.dag_run_outcomes`, written by these callbacks, because task code must not read Airflow's
  metadata database);
- escalation is by elapsed time, as runbook 000 asks ("if alerts remain firing after 30 minutes,
  page"): the continuous evaluator's `dag_still_failing` rule sends a DAG failing for 30 minutes one
  severity up. Its own alerts (`continuous_alert_text`) escalate the same way.

This module builds messages and decides routes without importing Slack's client; `outcomes` keeps the
failure streaks, `slack` sends (notifiers built on the Slack provider's `SlackWebhookNotifier`) and
`callbacks` holds the functions the DAGs name, which import `slack` only when a callback fires, so
parsing a DAG imports nothing heavy. Imports go one way: callbacks -> slack -> outcomes -> messages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from analytics_ops.core.config import Route, SuiteConfig, load_config

_ICONS = {"P0": ":rotating_light:", "P1": ":red_circle:", "P2": ":large_orange_circle:", "P3": ":large_blue_circle:"}


def route_for(severity: str, config: SuiteConfig | None = None) -> Route:
    return (config or load_config()).alerting.routes[severity]


def task_log_url(base_url: str, dag_id: str, run_id: str, task_id: str, map_index: int, try_number: int) -> str:
    url = f"{base_url.rstrip('/')}/dags/{quote(dag_id)}/runs/{quote(run_id, safe='')}/tasks/{quote(task_id)}"
    if map_index is not None and map_index >= 0:
        url += f"/mapped/{map_index}"
    return f"{url}?try_number={try_number}"


def runbook_url(base_url: str, dag_id: str) -> str:
    # The DAG's doc_md (its runbook) is shown on the DAG's page; its on-call section is "When it fails".
    return f"{base_url.rstrip('/')}/dags/{quote(dag_id)}#when-it-fails"


def runbook_hint(doc_md: str | None, task_id: str) -> str | None:
    """The doc_md bullet under '## When it fails' whose bold heading names `task_id`, as plain text.

    A heading may name several tasks: "- **`vacuum_table` / `reindex_index` failed**: ..." or
    "- **`review_sizes`**, **`review_bloat`**: ...".
    """
    if not doc_md:
        return None
    section = re.search(r"^## When it fails[^\n]*\n(?P<body>.*?)(?=^## |\Z)", doc_md, re.S | re.M)
    if not section:
        return None
    bullets = re.split(r"^- ", section["body"], flags=re.M)
    for bullet in bullets:
        head = bullet.strip().split(":", 1)[0]
        if f"`{task_id}`" in " ".join(re.findall(r"\*\*(.*?)\*\*", head)):
            text = " ".join(line.strip() for line in bullet.strip().splitlines())
            return text.replace("**", "*")
    return None


@dataclass(frozen=True)
class TaskAlert:
    kind: str  # "failure" or "retry"
    dag_id: str
    task_id: str
    run_id: str
    map_index: int
    try_number: int
    max_tries: int
    logical_date: datetime | None
    error: str
    severity: str
    base_severity: str
    failed_streak: int | None
    log_url: str
    runbook_url: str
    hint: str | None


def task_alert_text(alert: TaskAlert, route: Route) -> str:
    task = alert.task_id if alert.map_index < 0 else f"{alert.task_id}[{alert.map_index}]"
    when = alert.logical_date.isoformat() if alert.logical_date else "none (manual run)"
    if alert.kind == "refused":
        head = (
            f":no_entry_sign: *{alert.dag_id}* run refused its params; nothing was touched "
            "(no page: whoever triggered it fixes the params and triggers again)"
        )
    elif alert.kind == "retry":
        head = (
            f":warning: *{alert.dag_id}.{task}* failed on try {alert.try_number} of {alert.max_tries} "
            f"and will retry (no action needed yet; severity {alert.base_severity} if it keeps failing)"
        )
    else:
        head = f"{_ICONS[alert.severity]} *[{alert.severity}] {alert.dag_id}.{task} failed*"
        if route.mention:
            head = f"{route.mention} {head}"
    lines = [
        head,
        f"*Run:* `{alert.run_id}`  *Logical date:* {when}",
        f"*Try:* {alert.try_number} of {alert.max_tries}",
        f"*Error:* {alert.error}",
        f"*Log:* <{alert.log_url}|task log>",
    ]
    if alert.kind == "failure":
        streak = "unknown (run log unreachable)" if alert.failed_streak is None else str(alert.failed_streak)
        lines.append(f"*Failed runs in a row:* {streak}")
        lines.append(f"*What to do:* <{alert.runbook_url}|runbook>" + (f": {alert.hint}" if alert.hint else ""))
    return "\n".join(lines)


def deadline_text(
    *,
    dag_id: str,
    run_id: str,
    severity: str,
    route: Route,
    deadline_time: datetime,
    now: datetime,
    state: str | None,
    base_url: str,
) -> str:
    late = max(timedelta(0), now - deadline_time)
    minutes = int(late.total_seconds() // 60)
    seconds = int(late.total_seconds() % 60)
    head = f"{_ICONS[severity]} *[{severity}] {dag_id} missed its deadline*"
    if route.mention:
        head = f"{route.mention} {head}"
    run_url = f"{base_url.rstrip('/')}/dags/{quote(dag_id)}/runs/{quote(run_id, safe='')}"
    return "\n".join(
        [
            head,
            f"*Run:* <{run_url}|{run_id}>  *State:* {state or 'unknown'}",
            f"*Deadline:* {deadline_time.isoformat()}  *Late by:* {minutes}m {seconds:02d}s",
            f"*What to do:* <{runbook_url(base_url, dag_id)}|runbook>: see why the run is slow or stuck "
            "(a sensor waiting on replica lag, a lock timeout retrying, an upstream outage) before it "
            "delays what depends on it.",
        ]
    )


# --- the continuous evaluator's notifications ------------------------------------------------------

_HEADS = {
    "firing": "FIRING",
    "reminder": "STILL FIRING",
    "escalation": "ESCALATED",
    "resolved": "RESOLVED",
}


def _since(moment: datetime | None, now: datetime) -> str:
    from analytics_ops.health.framework import human_duration

    if moment is None:
        return "unknown"
    return f"{moment.isoformat(timespec='seconds')} ({human_duration((now - moment).total_seconds())} ago)"


def continuous_alert_text(note: Any, route: Route, now: datetime, ops_page_url: str) -> str:
    """The Slack text of one notification of the evaluator (`state.Notification`)."""
    from analytics_ops.health.framework import human_duration

    alert = note.alert
    labels = ", ".join(f"{key}={value}" for key, value in sorted(alert.labels.items()))
    name = f"{alert.rule}{{{labels}}}" if labels else alert.rule
    if note.kind == "resolved":
        began = alert.firing_since or alert.active_since
        lasted = human_duration(((alert.resolved_at or now) - began).total_seconds())
        return "\n".join(
            [
                f":white_check_mark: *[{note.severity}] RESOLVED: {name}* after {lasted}",
                f"*What it was:* {alert.summary}",
                f"*Now:* {alert.value}",
                f"<{ops_page_url}|Ops page>",
            ]
        )
    head = f"{_ICONS[note.severity]} *[{note.severity}] {_HEADS[note.kind]}: {name}*"
    if note.kind == "escalation":
        head += f" (escalated from {alert.severity}: unresolved since {_since(alert.firing_since, now)})"
    if route.mention and note.kind in ("firing", "escalation"):
        head = f"{route.mention} {head}"
    lines = [
        head,
        f"*What:* {alert.summary}",
        f"*Measured:* {alert.value} (condition: {alert.threshold})",
        f"*Firing since:* {_since(alert.firing_since, now)}",
    ]
    if alert.detail:
        lines.append(f"*Detail:* {alert.detail}")
    lines += [f"*What to do:* {alert.advice}", f"<{ops_page_url}|Ops page: every alert firing now>"]
    return "\n".join(lines)
