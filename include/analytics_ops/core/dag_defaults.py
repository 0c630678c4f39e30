"""The one place where a suite DAG gets its owner, tags, retries, alerting and deadline.

Every DAG file calls `suite_dag_args(dag_id, doc_md=__doc__)` and passes the result to `@dag`; none
repeats these settings. Values come from the config file (`dag_defaults`, overridden per DAG under
`dags.<dag_id>`).
"""

from __future__ import annotations

from typing import Any

from analytics_ops.core.config import SuiteConfig, load_config

SUITE_TAG = "analytics-ops"


def default_task_args(dag_id: str, config: SuiteConfig | None = None) -> dict[str, Any]:
    from analytics_ops.alerting.callbacks import on_task_failure, on_task_retry
    from analytics_ops.core.tasks import refuse_unknown_conf

    config = config or load_config()
    defaults, own = config.dag_defaults, config.dag(dag_id)
    return {
        "owner": config.airflow.owner,
        "retries": own.retries if own.retries is not None else defaults.retries,
        "retry_delay": own.retry_delay or defaults.retry_delay,
        # Doubling waits: a database that is briefly overloaded gets room to recover.
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": own.max_retry_delay or defaults.max_retry_delay,
        "on_failure_callback": [on_task_failure],
        "on_retry_callback": [on_task_retry],
        # A conf key the DAG does not declare fails the run before any task body runs, params or not.
        "pre_execute": refuse_unknown_conf,
    }


def deadline_alert(dag_id: str, config: SuiteConfig | None = None) -> Any:
    """The DAG's SLA: finished within `deadline` of the run being queued, or a Slack alert.

    Deadline alerts are experimental in Airflow 3.3: this is the one place that builds them.
    The reference is the run's queued time, not its logical date: a backfill run of an old date is
    queued now and must not be "late" from the moment it is created. For a scheduled run the two
    are the same moment. The callback runs in the triggerer and is named by its import path, so
    parsing the DAG does not import Slack's client.
    """
    from airflow.sdk import AsyncCallback, DeadlineAlert, DeadlineReference

    config = config or load_config()
    interval = config.dag(dag_id).deadline or config.dag_defaults.deadline
    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=interval,
        callback=AsyncCallback(
            "analytics_ops.alerting.callbacks.on_deadline_missed",
            kwargs={"dag_id": dag_id, "severity": config.severity(dag_id)},
        ),
        name=f"{dag_id}:deadline",
    )


def suite_dag_args(dag_id: str, *, doc_md: str | None, config: SuiteConfig | None = None) -> dict[str, Any]:
    """Keyword arguments for `@dag` shared by the whole suite."""
    if not doc_md or not doc_md.strip():
        raise ValueError(f"{dag_id}: the module docstring is the DAG's runbook in the UI; it must not be empty")
    from analytics_ops.alerting.callbacks import on_dag_success

    config = config or load_config()
    own = config.dag(dag_id)
    severity = config.severity(dag_id)
    return {
        "dag_id": dag_id,
        "doc_md": doc_md,
        "tags": sorted({SUITE_TAG, f"severity:{severity}", *own.tags}),
        "default_args": default_task_args(dag_id, config),
        "catchup": False,
        "on_success_callback": on_dag_success,
        "deadline": deadline_alert(dag_id, config),
    }
