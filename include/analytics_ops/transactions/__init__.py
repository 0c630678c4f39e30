"""Transaction analytics (runbook 004): wallet transactions folded into hourly aggregates.

- `hours`: ranges of UTC hours, the rebuild of a range from wallet_transactions and the comparison
  of what is written with what the transactions say (the drift);
- `backfill`: which hours an analytics_txn_backfill run rebuilds (its params), in chunks;
- `reconciliation`: analytics_txn_reconciliation's window, drift report and repair;
- `tasks`: the task bodies of both DAGs.
"""
