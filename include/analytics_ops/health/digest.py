"""The one Slack message a health-check run sends: a line per check, worst first, and a link to the run.

The digest reads each check task's results from XCom (pushed before a critical check fails its
task), so it is complete even when the primary, where results are also stored, is down. A check
task that left no results (it crashed, or never ran) is listed as critical: "did not report".
Sent through the Slack provider's webhook hook on the `connections.slack` connection, with Block
Kit blocks and the same content as plain `text` (Slack's fallback for notifications). The daily
health check's digest also lists the continuous alerts of the last 24 h (`digest_alerts`), after the
checks.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from analytics_ops.health.framework import CRITICAL, OK, RESULTS_KEY, STATUS_RANK, WARN, CheckResult

MARKS = {CRITICAL: ":red_circle:", WARN: ":warning:", OK: ":white_check_mark:"}
_SECTION_CHARS = 2900  # Slack caps a section's text at 3000
_MAX_SECTIONS = 45  # and a message at 50 blocks


def sort_worst_first(results: list[CheckResult]) -> list[CheckResult]:
    return sorted(results, key=lambda r: (-STATUS_RANK[r.status], r.check_name))


def run_url(base_url: str, dag_id: str, run_id: str) -> str:
    return f"{base_url.rstrip('/')}/dags/{quote(dag_id)}/runs/{quote(run_id, safe='')}"


def digest_line(result: CheckResult) -> str:
    line = f"{MARKS[result.status]} *{result.check_name}*: {result.value} _(threshold: {result.threshold})_"
    if result.detail and result.status != OK:
        line += f"\n      {result.detail}"
    return line


def headline(title: str, results: list[CheckResult]) -> str:
    counts = {status: sum(r.status == status for r in results) for status in (CRITICAL, WARN, OK)}
    overall = max((r.status for r in results), key=STATUS_RANK.__getitem__, default=OK)
    return f"{MARKS[overall]} {title}: {counts[CRITICAL]} critical, {counts[WARN]} warn, {counts[OK]} ok"


def compose(
    title: str, results: list[CheckResult], link: str, parts: list[str] | None = None
) -> tuple[str, list[dict[str, Any]]]:
    """(text, blocks): the headline, one line per result worst first, `parts` (each one section of
    its own, under Slack's cap), the link to the run."""
    parts = [part[:_SECTION_CHARS] for part in parts or []]
    ordered = sort_worst_first(results)
    head = headline(title, ordered)
    lines = [digest_line(r) for r in ordered]
    sections: list[str] = []
    for line in lines:
        if sections and len(sections[-1]) + len(line) + 1 <= _SECTION_CHARS:
            sections[-1] += "\n" + line
        else:
            sections.append(line[:_SECTION_CHARS])
    room = _MAX_SECTIONS - len(parts)
    if len(sections) > room:
        sections = [*sections[: room - 1], f"... and more: see the run ({len(lines)} results in all)"]
    sections += parts
    blocks: list[dict[str, Any]] = [{"type": "header", "text": {"type": "plain_text", "text": head[:150]}}]
    blocks += [{"type": "section", "text": {"type": "mrkdwn", "text": text}} for text in sections]
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"<{link}|Open the run in Airflow>"}]})
    text = "\n".join([head, *lines, *parts, f"<{link}|Open the run in Airflow>"])
    return text, blocks


def collect(ti: Any, task_ids: list[str]) -> list[CheckResult]:
    """Every check task's results from XCom; a task without any is a critical "did not report"."""
    results = []
    for task_id in task_ids:
        pushed = ti.xcom_pull(task_ids=task_id, key=RESULTS_KEY)
        if not pushed:
            results.append(
                CheckResult(
                    task_id,
                    CRITICAL,
                    "did not report",
                    "every check reports",
                    detail="the task failed before measuring or did not run: see its log",
                )
            )
            continue
        results.extend(CheckResult(**item) for item in pushed)
    return results


def send(text: str, blocks: list[dict[str, Any]], conn_id: str) -> None:
    from airflow.providers.slack.hooks.slack_webhook import SlackWebhookHook

    SlackWebhookHook(slack_webhook_conn_id=conn_id).send(text=text, blocks=blocks)


def send_digest(title: str, task_ids: list[str], *, with_alerts: bool = False) -> dict[str, Any]:
    """What a digest task does: collect, compose (with the last 24 h's alerts if `with_alerts`),
    send; returns the counts."""
    from airflow.sdk import get_current_context

    from analytics_ops.core.config import load_config
    from analytics_ops.core.tasks import session_name

    config = load_config()
    context = get_current_context()
    ti = context["ti"]
    results = collect(ti, task_ids)
    parts = []
    if with_alerts:
        from analytics_ops.health.digest_alerts import alerts_part

        # The run's moment, as the checks' "yesterday": a digest sent again shows the same 24 h.
        now = context.get("logical_date") or context["dag_run"].run_after
        parts.append(alerts_part(config, now=now, application_name=session_name(ti.task_id, ti.dag_id)))
    text, blocks = compose(title, results, run_url(config.airflow.base_url, ti.dag_id, ti.run_id), parts)
    print(text)
    send(text, blocks, config.connections.slack)
    return {status: sum(r.status == status for r in results) for status in (CRITICAL, WARN, OK)}
