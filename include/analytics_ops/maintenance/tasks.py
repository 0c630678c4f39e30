"""The task bodies of `analytics_weekly_maintenance`, one function per task.

Every session here has `maintenance.statement_timeout`; VACUUM and REINDEX CONCURRENTLY run in
autocommit (they cannot run in a transaction block).
"""

from __future__ import annotations

from typing import Any

from analytics_ops.core import tasks
from analytics_ops.core.config import load_config


def maintenance_session(autocommit: bool = True) -> Any:
    """A session of the running task for maintenance work (also the retention's VACUUM)."""
    return tasks.task_session(autocommit=autocommit, statement_timeout=load_config().maintenance.statement_timeout)


def plan_vacuum() -> list[str]:
    from analytics_ops.maintenance.vacuum_reindex import tables_to_vacuum

    with maintenance_session(autocommit=False) as conn:
        tables = tables_to_vacuum(conn, load_config().maintenance)
    print(f"to vacuum: {tables}")
    return tables


def vacuum_table(table: str) -> dict[str, Any]:
    from analytics_ops.maintenance.vacuum_reindex import vacuum_table as vacuum

    with maintenance_session() as conn:
        result = vacuum(conn, table)
    print(result)
    return result


def plan_reindex() -> list[str]:
    from analytics_ops.maintenance.vacuum_reindex import indexes_to_rebuild

    with maintenance_session(autocommit=False) as conn:
        indexes = indexes_to_rebuild(conn, load_config().maintenance)
    print(f"to reindex: {indexes}")
    return indexes


def reindex_index(index: str) -> dict[str, Any]:
    from analytics_ops.maintenance.vacuum_reindex import reindex_index as reindex

    with maintenance_session() as conn:
        result = reindex(conn, index)
    print(result)
    return result


def sweep_invalid_indexes() -> list[str]:
    from analytics_ops.maintenance.vacuum_reindex import sweep_invalid_leftovers

    with maintenance_session() as conn:
        dropped = sweep_invalid_leftovers(conn)
    print(f"dropped invalid leftovers: {dropped or 'none'}")
    return dropped


def finished() -> None:
    # The run's last word: upstream_failed (so the run is failed) when a VACUUM, a REINDEX or the
    # sweep failed; `report` runs either way (all_done) and, as a leaf of its own, would otherwise
    # let a run whose work failed end as a success.
    print("every planned table vacuumed, every planned index rebuilt, leftovers swept")


def report(vacuumed: list[dict] | None, reindexed: list[dict] | None, swept: list[str] | None) -> dict[str, Any]:
    # What the week's maintenance did, and the deadlocks since last week, in the run log.
    from analytics_ops.core.run_log import record_task_run
    from analytics_ops.core.xcom import mapped_results
    from analytics_ops.maintenance.vacuum_reindex import deadlocks, previous_deadlocks

    with maintenance_session(autocommit=False) as conn:
        now = deadlocks(conn)
        previous = previous_deadlocks(conn, tasks.dag_id())
        summary = {
            "tables": [v for v in mapped_results(vacuumed) if v],
            "indexes": [r for r in mapped_results(reindexed) if r],
            "swept": swept or [],
            "deadlocks": now,
            "deadlocks_since_last_week": None if previous is None else now - previous,
        }
        record_task_run(conn, subject="weekly maintenance", details=summary)
    for line in summary["tables"] + summary["indexes"]:
        print(line)
    print(f"deadlocks: {now} (since last week: {summary['deadlocks_since_last_week']})")
    return summary
