"""Running a suite DAG in-process with dag.test()."""

from __future__ import annotations

from typing import Any


def test_run(dag: Any, **kwargs: Any) -> Any:
    """dag.test() without the DAG's deadline alert.

    Airflow 3.3.2's dag.test() serializes the DAG without registering its deadline alerts, then
    looks them up by id when the run succeeds and crashes ('dict' object has no attribute 'hex').
    Deadlines are exercised with a real scheduler and triggerer in tests/e2e instead.
    """
    deadline, dag.deadline = dag.deadline, None
    try:
        run = dag.test(**kwargs)
    finally:
        dag.deadline = deadline
    # A run whose logical date is before the DAG's start_date "succeeds" without running anything.
    assert run.get_task_instances(), f"{dag.dag_id}: the run ran no task"
    return run


test_run.__test__ = False  # a helper, not a test


def error_lines(captured: Any) -> list[str]:
    """The lines at error level in what a run printed (`capfd.readouterr()`): a successful run has none."""
    return [line for line in (captured.out + captured.err).splitlines() if "[error" in line]
