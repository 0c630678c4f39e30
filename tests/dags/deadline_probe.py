"""
# deadline_probe (tests only)

A DAG built with the suite's defaults whose task outlives the DAG's deadline, so the end-to-end
test can watch a real scheduler and triggerer send the deadline-miss alert.

## When it fails
- **`outlive_the_deadline`**: it should not; it only sleeps.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from airflow.sdk import dag, task

from analytics_ops.core.dag_defaults import suite_dag_args


@dag(schedule=None, start_date=datetime(2025, 1, 1, tzinfo=UTC), **suite_dag_args("deadline_probe", doc_md=__doc__))
def deadline_probe():
    @task
    def outlive_the_deadline() -> None:
        time.sleep(30)

    outlive_the_deadline()


deadline_probe()
