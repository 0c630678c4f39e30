"""The suite's run log (ops.run_log): what each task did, readable by later tasks and by people.

Airflow 3 forbids task code from reading Airflow's metadata database, so facts that later runs need
("when was this view last refreshed", "how many rows did the archival move") are written here.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any


def record_run(
    conn: Any,
    *,
    dag_id: str,
    run_id: str,
    task_id: str,
    subject: str | None,
    started_at: datetime,
    finished_at: datetime,
    outcome: str = "success",
    details: dict[str, Any] | None = None,
) -> None:
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO ops.run_log (dag_id, run_id, task_id, subject, started_at, finished_at, outcome, details) "
            "VALUES (%(dag_id)s, %(run_id)s, %(task_id)s, %(subject)s, %(started_at)s, %(finished_at)s, "
            "%(outcome)s, %(details)s::jsonb)",
            {
                "dag_id": dag_id,
                "run_id": run_id,
                "task_id": task_id,
                "subject": subject,
                "started_at": started_at,
                "finished_at": finished_at,
                "outcome": outcome,
                "details": json.dumps(details or {}, default=str),
            },
        )
    conn.commit()


def record_task_run(
    conn: Any, *, subject: str | None, details: dict[str, Any], started_at: datetime | None = None
) -> None:
    """Record what the running task did, named by its own DAG, run and task ids."""
    from datetime import UTC

    from airflow.sdk import get_current_context

    ti = get_current_context()["ti"]
    now = datetime.now(UTC)
    record_run(
        conn,
        dag_id=ti.dag_id,
        run_id=ti.run_id,
        task_id=ti.task_id,
        subject=subject,
        started_at=started_at or getattr(ti, "start_date", None) or now,
        finished_at=now,
        details=details,
    )
