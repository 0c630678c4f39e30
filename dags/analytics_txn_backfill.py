"""
# Transaction backfill: rebuild runbook 004's hourly aggregates by date range

Automates runbook 004's *Backfill Historical Data* (`npm run backfill -- --from 2025-01-01 --to
2025-06-30`: "batch process wallet_transactions and populate txn_hourly_agg") and the repair of its
*Incorrect Aggregate Values* ("re-run backfill for affected period").

**Schedule:** none: trigger it with `from` and `to` (UTC days, both included) in the trigger form.

**What it does**
- `resolve_backfill`: validates the params before anything is touched: unknown keys, a day that is
  not `YYYY-MM-DD`, `to` before `from`, a day not over yet, a span over
  `transactions.max_backfill_days` (366), a `from` before `transactions.earliest_day` are refused
  with a message saying what to type. Cuts the range into chunks of `transactions.chunk_hours` (24).
- `rebuild_chunk` (one mapped task per chunk, `transactions.parallel_chunks` at a time): in one short
  transaction, an advisory lock per hour (a reconciliation repairing the same hour waits), the
  chunk's hours of `txn_hourly_agg` deleted and inserted again from `wallet_transactions` (per UTC
  hour, merchant and currency: `tx_count`, `gross_volume_local`). A re-run gives the same rows; a run
  killed half-way and run again ends exact (every chunk is whole or not done). With **`dry_run`**
  nothing is written: each chunk says how many rows it would insert, update and delete, and the net
  change in transactions and amount, with the first differences.
- `publish_backfill`: marks the Asset `txn_hourly_agg` updated, which runs
  `analytics_mv_refresh_frequent` at once (the dashboard's `mv_txn_daily_agg` follows the data);
  skipped in a dry run.

## When it fails (on call)
Every chunk that finished is complete and correct; clearing the failed chunk (or the whole run)
finishes the job.
- **`resolve_backfill` failed**: a bad param; the message says which. Trigger again with corrected
  ones. Nothing was written.
- **`rebuild_chunk` failed**: *lock timeout*: the consumer or a reconciliation repair holds those
  hours; clear the chunk once it calms down. *statement timeout*: the chunk is too big for
  `database.statement_timeout`; lower `transactions.chunk_hours`.
- **`publish_backfill` failed**: the data is rebuilt; only the view refresh was not triggered:
  `analytics_mv_refresh_frequent` refreshes it within 15 minutes anyway.
"""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.sdk import Param, dag, task

from analytics_ops.core.assets import TXN_HOURLY_AGG
from analytics_ops.core.config import load_config
from analytics_ops.core.dag_defaults import suite_dag_args
from analytics_ops.transactions import tasks as transactions

DAG_ID = "analytics_txn_backfill"
CONFIG = load_config()


@dag(
    schedule=None,
    start_date=datetime(2020, 1, 1, tzinfo=UTC),
    max_active_runs=1,
    params={
        "from": Param(None, type=["null", "string"], title="First day", description="YYYY-MM-DD (UTC)."),
        "to": Param(
            None,
            type=["null", "string"],
            title="Last day",
            description=(
                f"YYYY-MM-DD (UTC), included. Empty: same as from. At most "
                f"{CONFIG.transactions.max_backfill_days} days, and not today or later."
            ),
        ),
        "dry_run": Param(
            False, type="boolean", title="Dry run", description="Report what would change; write nothing."
        ),
    },
    **suite_dag_args(DAG_ID, doc_md=__doc__),
)
def analytics_txn_backfill():
    chunks = task(transactions.resolve_backfill)()
    rebuilt = task(transactions.rebuild_chunk, max_active_tis_per_dagrun=CONFIG.transactions.parallel_chunks).expand(
        chunk=chunks
    )
    task(transactions.publish_backfill, outlets=[TXN_HOURLY_AGG])(rebuilt)


analytics_txn_backfill()
