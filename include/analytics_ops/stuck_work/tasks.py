"""The task bodies of `analytics_stuck_work`, one function per task: act, record, report."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from analytics_ops.core import tasks
from analytics_ops.core.config import load_config


def _act(work: Callable[[Any], list[dict[str, Any]]]) -> list[dict[str, Any]]:
    acted_on = tasks.run_recorded(work, subject=None, details=lambda acted: {"acted_on": acted})
    print(f"{tasks.session_name().rsplit('.', 1)[1]}: {len(acted_on)} acted on: {acted_on}")
    return acted_on


def fail_stuck_jobs() -> list[dict[str, Any]]:
    from analytics_ops.stuck_work.jobs_and_sessions import fail_stuck_jobs as fail

    return _act(lambda conn: fail(conn, load_config().stuck_work.stuck_after))


def terminate_idle_sessions() -> list[dict[str, Any]]:
    from analytics_ops.stuck_work.jobs_and_sessions import terminate_idle_in_transaction

    settings = load_config().stuck_work
    return _act(
        lambda conn: terminate_idle_in_transaction(
            conn,
            settings.idle_in_transaction_limit,
            settings.allow_applications,
            spare_backup_tools=settings.spare_backup_tools,
        )
    )
