"""Failure streaks: each run's outcome in `ops.dag_run_outcomes`, and the facts of a failing task.

Task code must not read Airflow's metadata database, so the callbacks write every outcome here (a
final task failure marks the run failed; the DAG's success callback marks it succeeded). The alert
shows the failed runs in a row; the evaluator's `dag_failing` check reads the same rows to escalate a
DAG still failing after a time (`dag_still_failing`).
"""

from __future__ import annotations

import logging
from typing import Any

from analytics_ops.alerting.messages import TaskAlert, runbook_hint, runbook_url, task_log_url
from analytics_ops.core.config import SuiteConfig, load_config
from analytics_ops.core.errors import error_first_line
from analytics_ops.core.redaction import redact, suite_secrets

log = logging.getLogger(__name__)


def _bookkeeping_connection(config: SuiteConfig) -> Any:
    from analytics_ops.core.db import connect

    timeout = config.alerting.bookkeeping_timeout
    return connect(
        application_name="analytics-ops:alerting",
        statement_timeout=timeout,
        lock_timeout=timeout,
        connect_timeout=max(1, int(timeout.total_seconds())),
    )


def record_outcome(dag_id: str, run_id: str, outcome: str, config: SuiteConfig | None = None) -> int | None:
    """Record the run's outcome; returns the DAG's failed-run streak, or None if the DB is unreachable."""
    from analytics_ops.core.db import sql_file

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
    from analytics_ops.core.errors import ParamsRefused

    config = config or load_config()
    ti, dag_run = context["ti"], context["dag_run"]
    dag_id, run_id = ti.dag_id, ti.run_id
    base = config.severity(dag_id)
    severity, streak = base, None
    if kind == "failure" and isinstance(context.get("exception"), ParamsRefused):
        kind = "refused"
    if kind == "failure":
        # Escalation is by elapsed time, not by a count of runs: the evaluator's dag_still_failing rule.
        streak = record_outcome(dag_id, run_id, "failed", config)
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
