"""The task bodies of `analytics_retention_cleanup`, one function per task."""

from __future__ import annotations

from typing import Any

from analytics_ops.core import tasks
from analytics_ops.core.config import load_config


def list_policies() -> list[int]:
    return list(range(len(load_config().retention.policies)))


def apply_policy(index: int) -> dict[str, Any]:
    from analytics_ops.retention.policies import apply_policy as apply

    settings = load_config().retention
    policy = settings.policies[index]
    now = tasks.run_date()
    result = tasks.run_recorded(lambda conn: apply(conn, policy, now, settings.batch_rows), subject=policy.table)
    print(result)
    return result


def vacuum_tables(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # VACUUM the tables a policy deleted from (nothing deleted, nothing to vacuum).
    from analytics_ops.core.xcom import mapped_results
    from analytics_ops.maintenance.tasks import maintenance_session
    from analytics_ops.maintenance.vacuum_reindex import vacuum_table

    done = []
    with maintenance_session() as conn:
        for result in mapped_results(results):
            if result["deleted"]:
                done.append(vacuum_table(conn, result["table"]))
    print(done or "nothing deleted, nothing to vacuum")
    return done
