"""The callbacks every suite DAG names (through `core.dag_defaults`): task failure and first retry,
DAG success, missed deadline.

Plain functions, so a DAG file imports no Slack client at parse time: the notifiers (`slack`) load
when a callback fires. The deadline callback is named by its import path and runs in the triggerer.
"""

from __future__ import annotations

from typing import Any

from analytics_ops.alerting.outcomes import record_outcome
from analytics_ops.core.config import load_config


def on_task_failure(context: dict[str, Any]) -> None:
    from analytics_ops.alerting.slack import TaskAlertNotifier

    TaskAlertNotifier(kind="failure")(context)


def on_task_retry(context: dict[str, Any]) -> None:
    if not load_config().alerting.warn_on_first_retry:
        return
    if context["ti"].try_number != 1:
        return  # only the first retry warns; the rest stay quiet until the final failure
    from analytics_ops.alerting.slack import TaskAlertNotifier

    TaskAlertNotifier(kind="retry")(context)


def on_dag_success(context: dict[str, Any]) -> None:
    # Without a task instance to build it from, Airflow passes only `dag` and `run_id`.
    record_outcome(context["dag"].dag_id, context["run_id"], "success")


async def on_deadline_missed(*, dag_id: str, severity: str, context: dict[str, Any] | None = None) -> None:
    """AsyncCallback of the suite's deadline alerts; runs in the triggerer."""
    from analytics_ops.alerting.slack import DeadlineMissNotifier

    await DeadlineMissNotifier(dag_id=dag_id, severity=severity, context=context or {})
