"""The one place where a suite DAG gets its owner, tags, retries and alerting.

Every DAG file calls `suite_dag_args(dag_id, doc_md=__doc__)` and passes the result to `@dag`; none
repeats these settings. Values come from the config file (`dag_defaults`, overridden per DAG under
`dags.<dag_id>`).
"""

from __future__ import annotations

from typing import Any

from analytics_ops.config import SuiteConfig, load_config

SUITE_TAG = "analytics-ops"


def default_task_args(dag_id: str, config: SuiteConfig | None = None) -> dict[str, Any]:
    config = config or load_config()
    defaults, own = config.dag_defaults, config.dag(dag_id)
    return {
        "owner": config.airflow.owner,
        "retries": own.retries if own.retries is not None else defaults.retries,
        "retry_delay": own.retry_delay or defaults.retry_delay,
        # Doubling waits: a database that is briefly overloaded gets room to recover.
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": own.max_retry_delay or defaults.max_retry_delay,
    }


def suite_dag_args(dag_id: str, *, doc_md: str | None, config: SuiteConfig | None = None) -> dict[str, Any]:
    """Keyword arguments for `@dag` shared by the whole suite."""
    if not doc_md or not doc_md.strip():
        raise ValueError(f"{dag_id}: the module docstring is the DAG's runbook in the UI; it must not be empty")
    config = config or load_config()
    own = config.dag(dag_id)
    severity = own.severity or config.dag_defaults.severity
    return {
        "dag_id": dag_id,
        "doc_md": doc_md,
        "tags": sorted({SUITE_TAG, f"severity:{severity}", *own.tags}),
        "default_args": default_task_args(dag_id, config),
        "catchup": False,
    }
