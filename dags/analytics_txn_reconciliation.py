"""
# Transaction reconciliation: the last closed hours recomputed and compared, every hour

Automates runbook 004's *Incorrect Aggregate Values* diagnosis ("compare aggregates to raw
transactions", "check for duplicate event processing"): the consumer writes `txn_hourly_agg` as
transactions stream in; this DAG checks what it wrote against `wallet_transactions`.

**Schedule:** hourly at :10 UTC.

**What it does**
- `find_drift`: recomputes the last `transactions.reconcile_hours` (3) closed hours, and the
  `transactions.late_arrival_hours` (24) before them (where late transactions may have been missed),
  from `wallet_transactions`, and compares them with `txn_hourly_agg` per hour, merchant and
  currency: rows missing, rows extra, counts or amounts different. Every difference is recorded in
  `ops.txn_drift` under this run's `ops.txn_reconciliations` row (a re-run replaces it) and the first
  ones are printed. The continuous evaluator's `txn_aggregates_drifting` rule alerts on drift that
  the newest reconciliation found and did not repair.
- `repair_drift`: with `transactions.repair_drift` on, rebuilds each hour that drifted (as
  `analytics_txn_backfill` would, one short transaction per hour) and marks the Asset
  `txn_hourly_agg` updated, which refreshes `mv_txn_daily_agg`. Off (the default), or with no drift,
  it is skipped: the drift is reported and someone decides (runbook 004: "re-run backfill for
  affected period").

Find the drift: `SELECT d.* FROM ops.txn_drift AS d JOIN ops.txn_reconciliations AS r ON r.id =
d.reconciliation_id ORDER BY r.checked_at DESC, d.hour LIMIT 20;`.

## When it fails (on call)
- **`find_drift` failed**: *statement timeout*: the window is too big for the primary now; lower
  `transactions.late_arrival_hours`. *could not connect*: the primary is down (runbook 001 P0). Nothing
  was written; the next hour's run looks at the same hours again.
- **`repair_drift` failed**: *lock timeout*: a backfill or the consumer holds those hours; clear the
  task. The hours repaired before the failure are correct; the rest are as the consumer wrote them.
"""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.sdk import dag, task

from analytics_ops.core.assets import TXN_HOURLY_AGG
from analytics_ops.core.dag_defaults import suite_dag_args
from analytics_ops.transactions import tasks as transactions

DAG_ID = "analytics_txn_reconciliation"


@dag(
    schedule="10 * * * *",
    start_date=datetime(2020, 1, 1, tzinfo=UTC),
    max_active_runs=1,
    **suite_dag_args(DAG_ID, doc_md=__doc__),
)
def analytics_txn_reconciliation():
    found = task(transactions.find_drift)()
    task(transactions.repair_drift, outlets=[TXN_HOURLY_AGG])(found)


analytics_txn_reconciliation()
