"""The task body of analytics_ingest_merge."""

from __future__ import annotations

from typing import Any

from analytics_ops.core import tasks
from analytics_ops.core.config import load_config


def merge_staged_rows() -> dict[str, Any]:
    """Fold every kind's staged rows into analytics_events_rollup, batch by batch; record each kind's throughput."""
    from analytics_ops.ingest.merge import merge, record

    settings = load_config().ingest_merge
    run_id = tasks.run_id()

    def work(conn: Any) -> Any:
        parts = merge(conn, settings)
        record(conn, run_id, parts)
        return parts

    parts = tasks.run_recorded(
        work,
        subject="analytics_events_stage",
        details=lambda ps: {p.kind: p.record() for p in ps},
        statement_timeout=settings.batch_statement_timeout,
    )
    for part in parts:
        print(part)
    stopped = [p.kind for p in parts if p.stopped_by_switch]
    if stopped:
        print(f"kill switch off for {', '.join(stopped)}: rows stay staged until analytics_merge_control enables them")
    return {
        "rows_merged": sum(p.rows_merged for p in parts),
        "batches": sum(p.batches for p in parts),
        "kinds": {p.kind: p.rows_merged for p in parts},
        "stopped_by_switch": stopped,
    }
