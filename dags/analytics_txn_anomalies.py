"""
# Transaction anomalies: each merchant's last hour scored against its history, every hour

Automates runbook 004's SIRA ("z-score threshold: 3 standard deviations"): instead of a moving
average kept in Redis by the consumer, the score is computed from `txn_hourly_agg` itself, so it
survives a cache flush and can be re-run.

**Schedule:** hourly at :15 UTC (after the consumer has written the hour that just closed).

**What it does**
- `score_anomalies`: for every merchant, the transaction count of the last closed hour against its
  trailing `transactions.anomaly_history_hours` (168: a week; an hour without a transaction counts
  as 0): mean, standard deviation, z-score. A merchant is judged only with transactions in at least
  `transactions.anomaly_min_history_hours` (24) hours of that window. A count at least
  `transactions.anomaly_z_threshold` (3) standard deviations above or below the mean is an anomaly.
  The scan (merchants scored, anomalies) goes to `ops.txn_anomaly_scans`, each anomaly with its
  score to `ops.txn_anomalies`; a re-run of the same hour replaces them.
- The continuous evaluator's `txn_anomaly` rule (analytics_alert_evaluator) sends each anomaly of the
  newest scan once (P2, ops channel) and resolves it when the next hour's scan no longer has it.

See the anomalies: `SELECT s.hour, a.* FROM ops.txn_anomalies AS a JOIN ops.txn_anomaly_scans AS s
ON s.id = a.scan_id ORDER BY s.hour DESC, abs(a.z_score) DESC LIMIT 20;`.

## When it fails (on call)
- **`score_anomalies` failed**: *statement timeout*: scoring reads `anomaly_history_hours` of
  `txn_hourly_agg`; lower it, or look at what loads the primary. *could not connect*: the primary is
  down (runbook 001 P0). Nothing was written; the next hour scores its own hour (clear this run to
  score the missed one).
- An anomaly itself is not a failure: it is in the alert, with the merchant, its count and its score.
  A spike: a merchant's promotion, or duplicate processing (look at `analytics_txn_reconciliation`'s
  drift for that hour). A drop to 0: the merchant's integration or the consumer is down.
"""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.sdk import dag, task

from analytics_ops.core.dag_defaults import suite_dag_args
from analytics_ops.transactions import tasks as transactions

DAG_ID = "analytics_txn_anomalies"


@dag(
    schedule="15 * * * *",
    start_date=datetime(2020, 1, 1, tzinfo=UTC),
    max_active_runs=1,
    **suite_dag_args(DAG_ID, doc_md=__doc__),
)
def analytics_txn_anomalies():
    task(transactions.score_anomalies)()


analytics_txn_anomalies()
