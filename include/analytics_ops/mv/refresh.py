"""Refresh materialized views without blocking their readers (runbook 001 evening routine, runbook 004).

`REFRESH MATERIALIZED VIEW CONCURRENTLY` lets readers keep reading the old contents while the new
ones are computed; it needs a unique index on plain columns and a view populated once. A view that
has never been populated gets a plain first refresh (it has no contents to keep available).

Postgres does not record when a view was last refreshed, so every refresh is written to
`ops.run_log` (task `refresh_view`, subject the view, details: mode, seconds, rows).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any


class ViewNotRefreshable(Exception):
    """The view cannot be refreshed concurrently; the message says how to fix it."""


@dataclass(frozen=True)
class ViewState:
    schema: str
    name: str
    exists: bool
    populated: bool
    has_unique_plain_index: bool


@dataclass(frozen=True)
class RefreshResult:
    view: str
    mode: str  # "concurrent" or "plain (first population)"
    seconds: float
    rows: int


def inspect_view(conn: Any, view: str) -> ViewState:
    from analytics_ops.core.db import split_name, sql_file

    schema, name = split_name(view)
    exists, populated, unique = conn.execute(sql_file("mv/view_state"), {"schema": schema, "view": name}).fetchone()
    return ViewState(schema, name, exists, populated, unique)


def check_refreshable(state: ViewState) -> None:
    qualified = f"{state.schema}.{state.name}"
    if not state.exists:
        raise ViewNotRefreshable(
            f"{qualified} is not a materialized view in this database; fix mv_refresh.groups in the config "
            "or create the view"
        )
    if not state.has_unique_plain_index:
        raise ViewNotRefreshable(
            f"{qualified} has no unique index on plain columns, which REFRESH MATERIALIZED VIEW CONCURRENTLY "
            f"requires. Fix: CREATE UNIQUE INDEX CONCURRENTLY ON {qualified} (<columns that identify a row>); "
            "no WHERE clause, no expressions"
        )


def refresh_view(conn: Any, view: str) -> RefreshResult:
    """Refresh `view` in one transaction on `conn` (committed here); refuses rather than overlaps."""
    from psycopg import sql

    state = inspect_view(conn, view)
    check_refreshable(state)
    ident = sql.Identifier(state.schema, state.name)
    # One refresh of a view at a time, whoever started it: a second one waits for nothing and fails
    # fast (and retries later) instead of queueing behind the first.
    locked = conn.execute(
        "SELECT pg_try_advisory_xact_lock(4202, hashtext(%(view)s))", {"view": f"{state.schema}.{state.name}"}
    ).fetchone()[0]
    if not locked:
        raise RuntimeError(f"{state.schema}.{state.name} is already being refreshed by another session")
    concurrent = state.populated
    statement = "REFRESH MATERIALIZED VIEW CONCURRENTLY {}" if concurrent else "REFRESH MATERIALIZED VIEW {}"
    started = time.perf_counter()
    conn.execute(sql.SQL(statement).format(ident))
    seconds = time.perf_counter() - started
    rows = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(ident)).fetchone()[0]
    conn.commit()
    return RefreshResult(
        f"{state.schema}.{state.name}", "concurrent" if concurrent else "plain (first population)", seconds, rows
    )


def refresh_group_tasks(group: str) -> None:
    """Wire, inside the current DAG, the refresh of one `mv_refresh.groups` entry.

    wait_for_replicas >> list_views >> refresh_view (mapped, one per view, in the `mv_refresh.pool`
    pool so refreshes across the suite run at most `pool_slots` at a time).
    """
    from airflow.sdk import task

    from analytics_ops.core.config import load_config
    from analytics_ops.replication.sensors import ReplicaLagSensor

    config = load_config()

    @task
    def list_views() -> list[str]:
        groups = load_config().mv_refresh.groups
        if group not in groups:
            raise ViewNotRefreshable(f"mv_refresh.groups has no group {group!r}; add it to the config")
        return groups[group].views

    @task(task_id="refresh_view", pool=config.mv_refresh.pool)
    def refresh_one_view(view: str) -> dict:
        from analytics_ops.core import tasks

        result = tasks.run_recorded(
            lambda conn: refresh_view(conn, view),
            subject=lambda r: r.view,
            details=lambda r: {"mode": r.mode, "seconds": round(r.seconds, 3), "rows": r.rows},
            statement_timeout=load_config().mv_refresh.statement_timeout,
        )
        print(f"{result.view}: {result.mode} refresh in {result.seconds:.2f}s, {result.rows} rows")
        return {"view": result.view, "mode": result.mode, "seconds": result.seconds, "rows": result.rows}

    views = list_views()
    ReplicaLagSensor(task_id="wait_for_replicas") >> views
    refresh_one_view.expand(view=views)
