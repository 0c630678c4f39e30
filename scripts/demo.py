"""Run every DAG of the suite once on the demo data (in-process, with dag.test) and say what each did.

Used by `make demo`. Each DAG runs with its default params, as the scheduler would run it now, but
those that must be told something: the transaction backfill (its days), the incident export (the
demo's error spike) and the point-in-time recovery (an instant: the newest one the backups cover; it
runs after the backup DAGs, as a rehearsal that leaves no cluster running).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    from airflow.dag_processing.dagbag import DagBag

    from analytics_ops.core.db import connect

    bag = DagBag(dag_folder=str(ROOT / "dags"))
    if bag.import_errors:
        for path, error in bag.import_errors.items():
            print(f"IMPORT ERROR {path}:\n{error}", file=sys.stderr)
        return 1
    failed = []
    # After the others, in this order: the cache clearing's dry run lists what the warming wrote; the
    # evaluator sends what the scans found (drift, anomalies) and asks for the export of a firing error
    # spike, which the on-alert export then takes; the health checks look at what every other DAG did,
    # daily before weekly.
    last = ("analytics_cache_clear", "analytics_alert_evaluator", "analytics_incident_export_on_alert",
            "analytics_health_check", "analytics_weekly_review")  # fmt: skip
    for dag_id in sorted(bag.dag_ids, key=lambda d: (d in last, last.index(d) if d in last else 0, d)):
        dag = bag.get_dag(dag_id)
        print(f"\n=== {dag_id} ===")
        started = time.perf_counter()
        # Airflow 3.3.2's dag.test() crashes at the end of a run of a DAG with a deadline alert
        # (tests/dag_runs.py says why); deadlines only matter to a real scheduler anyway.
        dag.deadline = None
        run = dag.test(run_conf=CONF[dag_id]() if dag_id in CONF else None)
        tis = sorted(run.get_task_instances(), key=lambda ti: (ti.task_id, ti.map_index))
        print(f"--- {dag_id}: {run.state} in {time.perf_counter() - started:.1f}s")
        for ti in tis:
            label = ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"
            print(f"    {label:<32} {ti.state}")
        with connect(application_name="analytics-ops:demo") as conn:
            rows = conn.execute(
                "SELECT task_id, subject, details FROM ops.run_log WHERE run_id = %s ORDER BY id", (run.run_id,)
            ).fetchall()
        for task_id, subject, details in rows:
            text = f"{task_id} {subject or ''} {details}"
            print(f"    did: {text[:240]}{' ...' if len(text) > 240 else ''}")
        if run.state != "success":
            failed.append(dag_id)
    _drop_backup_slot()
    print(
        f"\n{len(bag.dag_ids) - len(failed)} of {len(bag.dag_ids)} DAGs succeeded"
        + (f"; failed: {failed}" if failed else "")
    )
    return 1 if failed else 0


def _txn_backfill_conf() -> dict:
    """The two newest whole days of the demo's wallet transactions."""
    from datetime import UTC, datetime, timedelta

    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    return {"from": (yesterday - timedelta(days=1)).isoformat(), "to": yesterday.isoformat()}


def _incident_export_conf() -> dict:
    """The demo's error spike: org-demo-2's gpt-small over the last hour."""
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC)
    return {"org_id": "org-demo-2", "model_id": "gpt-small", "start": (now - timedelta(hours=1)).isoformat(),
            "end": now.isoformat()}  # fmt: skip


def _pitr_conf() -> dict:
    from analytics_ops.backups.jobs import WAL_FOLDER
    from analytics_ops.backups.storage import destination_root
    from analytics_ops.backups.wal import covered_until
    from analytics_ops.core.config import load_config

    covers = covered_until(destination_root(load_config().backups) / WAL_FOLDER)
    return {"target_time": covers.isoformat() if covers else None, "keep_running": False}


# Params of the DAGs that need to be told something (every other DAG runs with its defaults).
CONF = {
    "analytics_incident_export": _incident_export_conf,
    "analytics_pitr": _pitr_conf,
    "analytics_txn_backfill": _txn_backfill_conf,
}


def _drop_backup_slot() -> None:
    """The demo's WAL slot would hold every byte of WAL a development stack writes until its next run."""
    from analytics_ops.core.config import load_config
    from analytics_ops.core.db import connect

    slot = load_config().backups.wal_slot
    with connect(application_name="analytics-ops:demo") as conn:
        dropped = conn.execute(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s AND NOT active",
            (slot,),
        ).rowcount
    if dropped:
        print(f"\n(dropped the demo's WAL slot {slot}: on a development stack nobody reads it between demos)")


if __name__ == "__main__":
    raise SystemExit(main())
