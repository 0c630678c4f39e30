"""
# untagged_probe (tests only)

A DAG that is not the suite's (no `analytics-ops` tag): the Ops page must never list it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.sdk import dag, task


@dag(schedule=None, start_date=datetime(2025, 1, 1, tzinfo=UTC), tags=["someone-else"], doc_md=__doc__)
def untagged_probe():
    @task
    def do_nothing() -> None:
        return None

    do_nothing()


untagged_probe()
