"""
# Retention cleanup

Automates runbook 002's retention cleanup (processing jobs older than 90 days, email history older
than a year) and runbook 004's *Clean up old resolved alerts (> 30 days)*; it also keeps the
continuous alert evaluator's history bounded: `ops.alerts` episodes resolved over 90 days ago (open
ones are never touched), `ops.alert_notifications` over 90 days, `ops.alert_rule_failures` over 30,
and the transaction reconciliations (`ops.txn_reconciliations`, their drift rows with them) over 30.

**Schedule:** daily at 03:30 UTC.

**What it does:** `wait_for_replicas`, then one mapped `apply_policy` task per entry of
`retention.policies` (table, `name` or `schema.name`, integer key column, timestamp column, age, optional `only_when`
filter, optional `archive_table`): rows older than the age are deleted, or moved to the archive
table, in keyset batches of `retention.batch_rows` along the key, each batch one short transaction
(`FOR UPDATE` on the batch's rows; `database.lock_timeout` applies). Then `vacuum_tables` runs
`VACUUM (ANALYZE)` on each table that lost rows. Every count goes to the task log and
`ops.run_log`.

## When it fails (on call)
- **`wait_for_replicas` failed**: replicas stayed behind; nothing was deleted. Fix the replica
  (runbook 000), then clear the task.
- **`list_policies` failed**: the config's policies were refused (the message names the key);
  nothing was deleted. Fix `retention.policies` and clear the task.
- **`apply_policy` failed**: the message names the table. Batches already committed are done; clear
  the task to finish. *lock timeout*: the application holds those rows; it retries.
  *column does not exist*: the policy in the config names a wrong column.
- **`vacuum_tables` failed**: the deletes are done; the next run vacuums again.
"""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.sdk import dag, task

from analytics_ops.core.dag_defaults import suite_dag_args
from analytics_ops.replication.sensors import ReplicaLagSensor
from analytics_ops.retention import tasks as retention

DAG_ID = "analytics_retention_cleanup"


@dag(
    schedule="30 3 * * *",
    start_date=datetime(2020, 1, 1, tzinfo=UTC),
    max_active_runs=1,
    **suite_dag_args(DAG_ID, doc_md=__doc__),
)
def analytics_retention_cleanup():
    policies = task(retention.list_policies)()
    ReplicaLagSensor(task_id="wait_for_replicas") >> policies
    task(retention.vacuum_tables)(task(retention.apply_policy).expand(index=policies))


analytics_retention_cleanup()
