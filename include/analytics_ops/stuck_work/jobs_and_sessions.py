"""Stuck jobs and sessions idle in a transaction (runbook 002, INC-003 and INC-002).

- A `processing_jobs` row in `processing` for longer than `stuck_work.stuck_after` is marked
  `failed` with a message saying who did it and why, as INC-003's manual UPDATE does.
- A session idle in a transaction for longer than `stuck_work.idle_in_transaction_limit` (it holds
  locks and snapshots, blocking VACUUM) is terminated, in this database only, never the suite's own
  sessions (`application_name` starting `analytics-ops`), backup tools' (`BACKUP_TOOLS`, unless
  `spare_backup_tools` is off) nor those `allow_applications` names (exactly, or by a prefix
  written with a trailing `*`).
  A superuser's session is reported and left alone: the suite's role (`pg_signal_backend`) may not
  signal it, and trying would fail the statement for every other session too.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

log = logging.getLogger(__name__)

STUCK_MESSAGE = "Cancelled by analytics-ops: stuck in processing for over {minutes} minutes (runbook 002, INC-003)"


def fail_stuck_jobs(conn: Any, stuck_after: timedelta) -> list[dict[str, Any]]:
    from analytics_ops.core.db import sql_file

    rows = conn.execute(
        sql_file("stuck_work/fail_stuck_jobs"),
        {"stuck_after": stuck_after, "message": STUCK_MESSAGE.format(minutes=int(stuck_after.total_seconds() // 60))},
    ).fetchall()
    conn.commit()
    return [{"job_id": r[0], "job_type": r[1], "started_at": r[2].isoformat()} for r in rows]


# Backup tools hold a transaction open on purpose (pg_dump's snapshot while its workers copy; the
# WAL stream of a base backup): the suite's own backups and common backup products' sessions.
BACKUP_TOOLS = ("pg_dump", "pg_restore", "pg_basebackup", "pg_receivewal", "barman*", "pgbackrest*", "wal-g*")


def spared_applications(allow: list[str], *, spare_backup_tools: bool = True) -> list[str]:
    """application_name entries never terminated: exact names, or prefixes ending in `*`."""
    return ["analytics-ops*", *(BACKUP_TOOLS if spare_backup_tools else ()), *allow]


def terminate_idle_in_transaction(
    conn: Any, limit: timedelta, allow: list[str], *, spare_backup_tools: bool = True
) -> list[dict[str, Any]]:
    from analytics_ops.core.db import sql_file

    rows = conn.execute(
        sql_file("stuck_work/terminate_idle_in_transaction"),
        {"limit": limit, "allow": spared_applications(allow, spare_backup_tools=spare_backup_tools)},
    ).fetchall()
    conn.commit()
    sessions = [
        {"pid": r[0], "user": r[1], "application_name": r[2], "idle_since": r[3].isoformat(), "terminated": r[4]}
        | ({"skipped_because": r[5]} if r[5] else {})
        for r in rows
    ]
    for session in sessions:
        if "skipped_because" in session:
            # Reported, not failed: only a superuser may end it, and the on-call should know it is there.
            log.warning(
                "not terminated: pid %s (user %s, application %r) idle in a transaction since %s: %s",
                session["pid"],
                session["user"],
                session["application_name"],
                session["idle_since"],
                session["skipped_because"],
            )
    return sessions
