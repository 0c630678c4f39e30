"""The one way to write a task body.

The DAG file wires tasks; the domain package does the work in a function of its `tasks` module,
which reaches the run through this module:

- `session_name()`: `analytics-ops:<dag_id>.<task_id>`, the application_name of every session a
  task opens (so an operator finds it in pg_stat_activity, and `analytics_stuck_work` spares it);
- `task_session(...)`: a session (`core.db.connect`) named after the running task;
- `run_recorded(work, subject=...)`: connect as the task, do `work(conn)`, record what it did in
  `ops.run_log`, return its summary: the pattern most task bodies are;
- `record(subject, details)`: the run-log line alone, on a session of its own;
- `run_date()`, `params()`, `run_id()`, `dag_id()`: the run's logical date (or, for a manual run,
  when it was triggered), its params and ids.

A DAG file makes the task of a body with `task(<domain>.tasks.<body>)`: TaskFlow names the task after
the function and shows the function's docstring as the task's documentation, so a body's docstring
is written for the UI (or it has a comment instead).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

T = TypeVar("T")


def _context() -> Any:
    from airflow.sdk import get_current_context

    return get_current_context()


def session_name(task_id: str | None = None, dag_id: str | None = None) -> str:
    """The application_name of the running task's sessions (or of the DAG and task named)."""
    if task_id is None or dag_id is None:
        ti = _context()["ti"]
        task_id, dag_id = task_id or ti.task_id, dag_id or ti.dag_id
    return f"analytics-ops:{dag_id}.{task_id}"


def run_date() -> datetime:
    """The run's logical date; a manual run without one counts from when it was triggered."""
    context = _context()
    return context.get("logical_date") or context["dag_run"].run_after


def refuse_unknown_conf(context: Any) -> None:
    """Every suite task's `pre_execute` hook (`core.dag_defaults`): refuse (`ParamsRefused`) a run whose conf holds
    a key the DAG does not declare, before the task body runs.

    Airflow merges an unknown conf key into the params without a word, so a typo'd key
    (`start_dte`) would run the default and succeed, and a conf given to a DAG that takes no params
    (`{"day": "2026-11-30"}` to the health check) would be ignored while the run did something
    else. Runs Airflow creates (scheduled, asset-triggered, `airflow backfill create`, the trigger
    form) carry no key or only declared ones.
    """
    from analytics_ops.core.errors import ParamsRefused
    from analytics_ops.core.params import ParamError, unknown_keys

    try:
        unknown_keys(context["dag_run"].conf, declared=context["dag"].params)
    except ParamError as exc:
        raise ParamsRefused(f"bad parameter, nothing was run: {exc}") from None


def params() -> dict[str, Any]:
    """The run's params, once `refuse_unknown_conf` let the run's conf through (checked again here: a task body
    called outside a suite DAG has no hook)."""
    context = _context()
    refuse_unknown_conf(context)
    return dict(context["params"])


def run_id() -> str:
    return _context()["run_id"]


def dag_id() -> str:
    return _context()["ti"].dag_id


@contextmanager
def task_session(conn_id: str | None = None, **options: Any) -> Iterator[Any]:
    """A `core.db.connect` session named after the running task; `options` as `connect` takes them."""
    from analytics_ops.core.db import connect

    with connect(conn_id, application_name=session_name(), **options) as conn:
        yield conn


def record(subject: str | None, details: dict[str, Any], *, started_at: datetime | None = None) -> None:
    """Write the running task's line in `ops.run_log` on a session of its own."""
    from analytics_ops.core.run_log import record_task_run

    with task_session() as conn:
        record_task_run(conn, subject=subject, details=details, started_at=started_at)


def run_recorded(
    work: Callable[[Any], T],
    *,
    subject: str | None | Callable[[T], str | None],
    details: Callable[[T], dict[str, Any]] | None = None,
    conn_id: str | None = None,
    **options: Any,
) -> T:
    """Connect as the running task, `work(conn)`, record it in `ops.run_log`, return what work returned.

    `subject` (or `subject(result)`) is what the task acted on; `details(result)` what is recorded
    (default: the result itself, a dict). The record is written in the same session, after the work.
    """
    from analytics_ops.core.run_log import record_task_run

    started = datetime.now(UTC)
    with task_session(conn_id, **options) as conn:
        result = work(conn)
        record_task_run(
            conn,
            subject=subject(result) if callable(subject) else subject,
            details=details(result) if details else result,  # type: ignore[arg-type]
            started_at=started,
        )
    return result
