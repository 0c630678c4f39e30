"""
# alert_probe (tests only)

A DAG built with the suite's defaults whose task fails on purpose, so the tests can watch the
alerts it sends.

## When it fails
- **`break_things`**: it was asked to. Trigger it with `{"succeed": true}` to see it pass.
"""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.sdk import Param, dag, get_current_context, task

from analytics_ops.core.dag_defaults import suite_dag_args


@dag(
    schedule=None,
    start_date=datetime(2025, 1, 1, tzinfo=UTC),
    params={"succeed": Param(False, type="boolean")},  # declared: the suite refuses an undeclared conf key
    **suite_dag_args("alert_probe", doc_md=__doc__),
)
def alert_probe():
    @task
    def break_things() -> None:
        from airflow.sdk import BaseHook

        if get_current_context()["params"]["succeed"]:
            return
        # An error that carries a DSN with its password, as a careless driver message might.
        uri = BaseHook.get_connection("analytics_db").get_uri()
        raise RuntimeError(f"could not reach {uri} (probe failure)\nsecond line of the error")

    break_things()


alert_probe()
