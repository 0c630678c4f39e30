"""Anomaly detection over the hourly aggregates (runbook 004's SIRA: z-score, 3 standard deviations).

Every hour, each merchant's transaction count in the last closed hour is compared with its trailing
`transactions.anomaly_history_hours` (an hour without a transaction counts as 0): a count at least
`anomaly_z_threshold` standard deviations from the mean, up or down, is an anomaly. A merchant with
transactions in fewer than `anomaly_min_history_hours` hours of the window is not judged, nor one
whose window never varied (no standard deviation to measure against: a known blind spot, though a
merchant with exactly the same count every hour is not real traffic). Scoring is one query (the
per-merchant sums are computed in PostgreSQL, next to the rows); the scan and its anomalies are
stored in one transaction, replacing an earlier scan of the same hour, and the continuous
evaluator's `txn_anomaly` rule sends them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from analytics_ops.core.config import TransactionSettings


def scored_hour(run_date: datetime) -> datetime:
    """The hour a run judges: the last one closed when it runs."""
    return run_date.astimezone(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)


@dataclass(frozen=True)
class Score:
    merchant_id: int
    tx_count: int
    mean: float
    stddev: float
    z_score: float

    def __str__(self) -> str:
        return (
            f"merchant {self.merchant_id}: {self.tx_count} tx "
            f"(z = {self.z_score:+.1f}; mean {self.mean:.1f}, sd {self.stddev:.1f})"
        )


@dataclass
class Scan:
    hour: datetime
    settings: TransactionSettings
    scores: list[Score]
    scan_id: int | None = None
    anomalies: list[Score] = field(init=False)

    def __post_init__(self) -> None:
        threshold = self.settings.anomaly_z_threshold
        self.anomalies = sorted((s for s in self.scores if abs(s.z_score) >= threshold), key=lambda s: -abs(s.z_score))


def score(conn: Any, hour: datetime, settings: TransactionSettings) -> Scan:
    """Score every merchant with enough history in `hour` (read only)."""
    from analytics_ops.core.db import sql_file

    rows = conn.execute(
        sql_file("transactions/score_anomalies"),
        {
            "hour": hour,
            "history_hours": settings.anomaly_history_hours,
            "min_history": settings.anomaly_min_history_hours,
        },
    ).fetchall()
    conn.rollback()  # a read: end it, so the session holds no snapshot while the caller goes on
    return Scan(hour, settings, [Score(*row) for row in rows])


def record(conn: Any, run_id: str, scan: Scan) -> int:
    """The scan and its anomalies, replacing an earlier scan of the same hour (one transaction)."""
    from analytics_ops.core.db import sql_file

    with conn.cursor() as cur:
        scan_id = cur.execute(
            sql_file("transactions/record_anomaly_scan"),
            {
                "hour": scan.hour,
                "run_id": run_id,
                "history_hours": scan.settings.anomaly_history_hours,
                "z_threshold": scan.settings.anomaly_z_threshold,
                "merchants_scored": len(scan.scores),
                "anomalies": len(scan.anomalies),
            },
        ).fetchone()[0]
        cur.execute("DELETE FROM ops.txn_anomalies WHERE scan_id = %s", (scan_id,))
        cur.executemany(
            sql_file("transactions/record_anomaly"),
            [{"scan_id": scan_id, **vars(a)} for a in scan.anomalies],
        )
    conn.commit()
    return scan_id
