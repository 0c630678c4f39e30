"""Escalation to Slack by severity: what an alert says, where it goes, and when it escalates.

Severities follow runbook 001: P0 critical … P3 low. Each DAG's severity comes from config. Routing:
`alerting.routes[severity]` names the Slack webhook connection and who to mention.

Escalation, as runbook 000 asks ("if alerts remain firing after 30 minutes, page"):
- a task going into its first retry posts one quiet warning (no mention); later retries post nothing;
- a task's final failure alerts at the DAG's severity;
- when the DAG's runs have failed `alerting.escalate_after_failed_runs` times in a row, the alert
  goes one severity higher.

"Failed N runs in a row" is known from `ops.dag_run_outcomes`, written by these callbacks (a final
task failure marks the run failed; the DAG's success callback marks it succeeded), because task code
must not read Airflow's metadata database.

This module builds messages and decides routes without importing Slack's client; the notifiers that
send (built on the Slack provider's `SlackWebhookNotifier`) are in `slack_alerts`, imported only when
a callback fires, so parsing a DAG imports nothing heavy.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from analytics_ops.config import Route, SuiteConfig, load_config

log = logging.getLogger(__name__)

SEVERITY_ORDER = ("P3", "P2", "P1", "P0")
_ICONS = {"P0": ":rotating_light:", "P1": ":red_circle:", "P2": ":large_orange_circle:", "P3": ":large_blue_circle:"}
_REDACTED = "***"
# Credentials that can ride along in an error message even when no configured secret matches.
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s]+):(?P<password>[^@\s]+)@", re.I)
_SLACK_HOOK = re.compile(r"https?://hooks\.slack\.com/services/[^\s'\">]+", re.I)
_PASSWORD_ASSIGNMENT = re.compile(r"(?P<key>password\s*[=:]\s*)(?P<value>[^\s,;'\"]+)", re.I)


def escalate(severity: str) -> str:
    index = SEVERITY_ORDER.index(severity)
    return SEVERITY_ORDER[min(index + 1, len(SEVERITY_ORDER) - 1)]


def route_for(severity: str, config: SuiteConfig | None = None) -> Route:
    return (config or load_config()).alerting.routes[severity]


def redact(text: str, secrets: list[str]) -> str:
    """Remove secrets from text that is about to leave the process (Slack, task output)."""
    for secret in sorted((s for s in secrets if s and len(s) >= 4), key=len, reverse=True):
        text = text.replace(secret, _REDACTED)
    text = _URL_CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:{_REDACTED}@", text)
    text = _SLACK_HOOK.sub("https://hooks.slack.com/services/" + _REDACTED, text)
    return _PASSWORD_ASSIGNMENT.sub(lambda m: f"{m['key']}{_REDACTED}", text)


def suite_secrets(config: SuiteConfig | None = None) -> list[str]:
    """Passwords of every connection the suite uses (DB passwords, webhook tokens/URLs)."""
    from airflow.sdk import BaseHook

    config = config or load_config()
    conn_ids = {
        config.connections.primary,
        config.connections.replica,
        config.connections.redis,
        config.connections.slack,
        *(route.connection for route in config.alerting.routes.values()),
        *config.replication.replica_connections,
    }
    secrets = []
    for conn_id in conn_ids:
        try:
            conn = BaseHook.get_connection(conn_id)
        except Exception:  # an undefined connection simply has no secret to hide
            continue
        secrets.extend(s for s in (conn.password, conn.get_uri() if conn.password else None) if s)
    return secrets


def error_first_line(exception: BaseException | str | None) -> str:
    if exception is None:
        return "(no exception recorded; see the task log)"
    if isinstance(exception, BaseException):
        text = str(exception).strip()
        first = text.splitlines()[0] if text else ""
        return f"{type(exception).__name__}: {first}" if first else type(exception).__name__
    text = str(exception).strip()
    return text.splitlines()[0] if text else "(empty error)"


def task_log_url(base_url: str, dag_id: str, run_id: str, task_id: str, map_index: int, try_number: int) -> str:
    url = f"{base_url.rstrip('/')}/dags/{quote(dag_id)}/runs/{quote(run_id, safe='')}/tasks/{quote(task_id)}"
    if map_index is not None and map_index >= 0:
        url += f"/mapped/{map_index}"
    return f"{url}?try_number={try_number}"


def runbook_url(base_url: str, dag_id: str) -> str:
    # The DAG's doc_md (its runbook) is shown on the DAG's page; its on-call section is "When it fails".
    return f"{base_url.rstrip('/')}/dags/{quote(dag_id)}#when-it-fails"


def runbook_hint(doc_md: str | None, task_id: str) -> str | None:
    """The doc_md bullet under '## When it fails' that names `task_id`, as plain text."""
    if not doc_md:
        return None
    section = re.search(r"^## When it fails[^\n]*\n(?P<body>.*?)(?=^## |\Z)", doc_md, re.S | re.M)
    if not section:
        return None
    bullets = re.split(r"^- ", section["body"], flags=re.M)
    for bullet in bullets:
        if re.match(rf"\*\*`{re.escape(task_id)}`", bullet.strip()):
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
        if alert.severity != alert.base_severity:
            head += (
                f" (escalated from {alert.base_severity}: {alert.failed_streak} failed runs in a row, "
                "no success in between)"
            )
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


def _bookkeeping_connection(config: SuiteConfig) -> Any:
    from analytics_ops.db import connect

    timeout = config.alerting.bookkeeping_timeout
    return connect(
        application_name="analytics-ops:alerting",
        statement_timeout=timeout,
        lock_timeout=timeout,
        connect_timeout=max(1, int(timeout.total_seconds())),
    )


def record_outcome(dag_id: str, run_id: str, outcome: str, config: SuiteConfig | None = None) -> int | None:
    """Record the run's outcome; returns the DAG's failed-run streak, or None if the DB is unreachable."""
    from analytics_ops.db import sql_file

    config = config or load_config()
    try:
        with _bookkeeping_connection(config) as conn, conn.cursor() as cur:
            params = {"dag_id": dag_id, "run_id": run_id, "outcome": outcome}
            cur.execute(sql_file("alerting/record_outcome"), params)
            cur.execute(sql_file("alerting/failed_streak"), params)
            return int(cur.fetchone()[0])
    except Exception as exc:  # the alert must still go out when the database is the problem
        log.warning("could not record %s for %s/%s: %s", outcome, dag_id, run_id, error_first_line(exc))
        return None


def build_task_alert(kind: str, context: dict[str, Any], config: SuiteConfig | None = None) -> TaskAlert:
    """Gather the facts of a failing task instance from its callback context."""
    from analytics_ops.errors import ParamsRefused

    config = config or load_config()
    ti, dag_run = context["ti"], context["dag_run"]
    dag_id, run_id = ti.dag_id, ti.run_id
    base = config.severity(dag_id)
    severity, streak = base, None
    if kind == "failure" and isinstance(context.get("exception"), ParamsRefused):
        kind = "refused"
    if kind == "failure":
        streak = record_outcome(dag_id, run_id, "failed", config)
        if streak is not None and streak >= config.alerting.escalate_after_failed_runs:
            severity = escalate(base)
    secrets = suite_secrets(config)
    map_index = getattr(ti, "map_index", -1)
    map_index = -1 if map_index is None else map_index
    task = context.get("task")
    max_tries = (getattr(task, "retries", 0) or 0) + 1
    dag = context.get("dag")
    return TaskAlert(
        kind=kind,
        dag_id=dag_id,
        task_id=ti.task_id,
        run_id=run_id,
        map_index=map_index,
        try_number=ti.try_number,
        max_tries=max_tries,
        logical_date=getattr(dag_run, "logical_date", None),
        error=redact(error_first_line(context.get("exception")), secrets),
        severity=severity,
        base_severity=base,
        failed_streak=streak,
        log_url=task_log_url(config.airflow.base_url, dag_id, run_id, ti.task_id, map_index, ti.try_number),
        runbook_url=runbook_url(config.airflow.base_url, dag_id),
        hint=runbook_hint(getattr(dag, "doc_md", None), ti.task_id),
    )


# Callbacks the suite's DAGs use. Plain functions so a DAG file imports no Slack client at parse time.


def on_task_failure(context: dict[str, Any]) -> None:
    from analytics_ops.slack_alerts import TaskAlertNotifier

    TaskAlertNotifier(kind="failure")(context)


def on_task_retry(context: dict[str, Any]) -> None:
    if not load_config().alerting.warn_on_first_retry:
        return
    if context["ti"].try_number != 1:
        return  # only the first retry warns; the rest stay quiet until the final failure
    from analytics_ops.slack_alerts import TaskAlertNotifier

    TaskAlertNotifier(kind="retry")(context)


def on_dag_success(context: dict[str, Any]) -> None:
    # Without a task instance to build it from, Airflow passes only `dag` and `run_id`.
    record_outcome(context["dag"].dag_id, context["run_id"], "success")


async def on_deadline_missed(*, dag_id: str, severity: str, context: dict[str, Any] | None = None) -> None:
    """AsyncCallback of the suite's deadline alerts; runs in the triggerer."""
    from analytics_ops.slack_alerts import DeadlineMissNotifier

    await DeadlineMissNotifier(dag_id=dag_id, severity=severity, context=context or {})
