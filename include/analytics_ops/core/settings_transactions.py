"""Config of runbook 004's transaction analytics: the backfill by date range, the hourly reconciliation and the
anomaly detection (SIRA)."""

from __future__ import annotations

from datetime import date

from pydantic import Field, model_validator

from analytics_ops.core.config_types import _Strict


class TransactionSettings(_Strict):
    earliest_day: date = date(2020, 1, 1)
    """No backfill rebuilds a day before this one (the oldest wallet transaction kept): an earlier `from` is refused,
    naming this setting."""
    max_backfill_days: int = Field(366, ge=1, le=3660)
    """Longest date range one analytics_txn_backfill run may cover (both ends included)."""
    chunk_hours: int = Field(24, ge=1, le=744)
    """The backfill rebuilds this many hours per chunk: one short transaction and one mapped task each, so a failed
    chunk retries alone and a killed run re-run ends exact."""
    parallel_chunks: int = Field(2, ge=1, le=32)
    """Chunks that may write at the same time."""
    reconcile_hours: int = Field(3, ge=1, le=168)
    """analytics_txn_reconciliation recomputes the last this many closed hours every hour ..."""
    late_arrival_hours: int = Field(24, ge=0, le=720)
    """... and this many hours before them, where transactions that arrived late may have been missed."""
    repair_drift: bool = False
    """Rewrite the hours where txn_hourly_agg differs from wallet_transactions (as the backfill would). Off: the drift
    is reported and alerted (the `txn_aggregates_drifting` rule), and someone decides."""
    anomaly_z_threshold: float = Field(3.0, gt=0, le=100)
    """analytics_txn_anomalies: a merchant's last closed hour is an anomaly when its transaction count is this many
    standard deviations (or more) above or below the merchant's mean over the trailing window (runbook 004's SIRA:
    3)."""
    anomaly_history_hours: int = Field(168, ge=2, le=2160)
    """The trailing window a merchant's last hour is compared with, in hours before it (an hour with no transaction
    counts as 0)."""
    anomaly_min_history_hours: int = Field(24, ge=1, le=2160)
    """A merchant is judged only once it had transactions in at least this many hours of the window: a new merchant
    is not an anomaly."""

    @model_validator(mode="after")
    def _history(self) -> TransactionSettings:
        if self.anomaly_min_history_hours > self.anomaly_history_hours:
            raise ValueError(
                f"anomaly_min_history_hours ({self.anomaly_min_history_hours}) is over anomaly_history_hours "
                f"({self.anomaly_history_hours}): no merchant could ever be judged"
            )
        return self
