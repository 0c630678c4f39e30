"""Hourly reconciliation (runbook 004 *Incorrect Aggregate Values*: "check for duplicate event processing").

Every hour the last `transactions.reconcile_hours` closed hours, and `late_arrival_hours` before
them, are recomputed from wallet_transactions and compared with what the consumer wrote. Each
differing (hour, merchant, currency) row is recorded in `ops.txn_drift` under this run's
`ops.txn_reconciliations` row; with `transactions.repair_drift` the hours that drifted are rebuilt
(as the backfill would), each in its own short transaction.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from analytics_ops.core.config import TransactionSettings
from analytics_ops.transactions.hours import Drift, HourRange, rebuild


def window(run_date: datetime, settings: TransactionSettings) -> HourRange:
    """The closed hours a run looks at: up to the hour its run time falls in (excluded)."""
    end = run_date.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return HourRange(end - timedelta(hours=settings.reconcile_hours + settings.late_arrival_hours), end)


@dataclass
class Reconciliation:
    window: HourRange
    drifts: list[Drift]
    reconciliation_id: int | None = None
    repaired_hours: list[datetime] = field(default_factory=list)

    @property
    def drifted_hours(self) -> list[datetime]:
        return sorted({d.hour for d in self.drifts})


def record(conn: Any, run_id: str, found: Reconciliation) -> int:
    """This run's verdict and drift rows, replacing an earlier try of the same run (one transaction)."""
    from analytics_ops.core.db import sql_file

    with conn.cursor() as cur:
        rid = cur.execute(
            sql_file("transactions/record_reconciliation"),
            {
                "run_id": run_id,
                "window_start": found.window.start,
                "window_end": found.window.end,
                "drifted_rows": len(found.drifts),
            },
        ).fetchone()[0]
        cur.execute("DELETE FROM ops.txn_drift WHERE reconciliation_id = %s", (rid,))
        rows = [{"reconciliation_id": rid, **asdict(d)} for d in found.drifts]
        cur.executemany(sql_file("transactions/record_drift"), rows)
    conn.commit()
    return rid


def repair(conn: Any, reconciliation_id: int, hours: list[datetime]) -> list[datetime]:
    """Rebuild each drifted hour (one transaction each), then mark the reconciliation repaired."""
    for hour in hours:
        rebuild(conn, HourRange(hour, hour + timedelta(hours=1)))
    conn.execute("UPDATE ops.txn_reconciliations SET repaired = TRUE WHERE id = %s", (reconciliation_id,))
    conn.commit()
    return hours
