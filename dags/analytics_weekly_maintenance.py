"""
# Weekly maintenance: VACUUM (ANALYZE), REINDEX CONCURRENTLY, leftover sweep

Automates runbook 001 *Database Maintenance › Weekly Maintenance* (vacuum, reindex if bloated,
update statistics, check for deadlocks) and runbook 002's weekly DB maintenance, safely on a busy
primary.

**Schedule:** Sundays 02:00 UTC.

**What it does**
1. `wait_for_replicas`: vacuum and reindex write a lot of WAL; wait until replicas are within lag.
2. `plan_vacuum`: the tables of `maintenance.vacuum_tables`, plus any table in
   `maintenance.schemas` with at least `dead_tuple_pct` (20 %) dead tuples and `min_dead_tuples`.
3. `vacuum_table` (one mapped task per table, retried alone): `VACUUM (ANALYZE)`.
4. `plan_reindex`: b-tree indexes of at least `min_index_bytes` whose estimated bloat is at least
   `reindex_bloat_pct` (30 %). Bloat is estimated with pgstattuple's `pgstatindex()`: 100 - 100 ×
   average leaf density / fillfactor (90 unless set), the share of leaf space a fresh build would
   not need.
5. `reindex_index` (mapped): `REINDEX INDEX CONCURRENTLY`, never plain REINDEX on a live table.
6. `sweep_invalid_indexes` (runs even if a reindex failed): drops the invalid `*_ccnew` / `*_ccold`
   indexes a failed concurrent reindex leaves behind, with `DROP INDEX CONCURRENTLY`.
7. `report`: per table dead tuples and size before/after and seconds; per index size before/after;
   swept leftovers; the deadlock counter (`pg_stat_database`) and its change since last week. Also
   written to `ops.run_log`.
8. `finished`: does nothing itself; upstream-failed when a VACUUM, REINDEX or the sweep failed, so the
   run is marked failed while `report` still records what was done.

**One heavy job at a time:** `vacuum_table` and `reindex_index` run in the `maintenance.pool` Airflow
pool (`heavy_maintenance`, 1 slot), which the monthly archival's move and VACUUM share. On the first
Sunday of a month both DAGs start at 02:00: their heavy tasks take turns instead of two VACUUMs of
`daily_analytics` contending for its lock (and the primary's I/O).

Every statement runs with `database.lock_timeout` (5 s) and `maintenance.statement_timeout`;
VACUUM and REINDEX CONCURRENTLY run in autocommit because Postgres refuses them in a transaction.
A lock timeout fails the try and the task retries later with backoff, instead of queueing behind
production traffic (and making production queue behind it).

## When it fails (on call)
- **`plan_vacuum` / `plan_reindex` failed**: they only read statistics and sizes; *lock timeout*:
  another session holds an exclusive lock on a table (a migration, `VACUUM FULL`): find it with
  `SELECT pid, mode, relation::regclass FROM pg_locks WHERE mode = 'AccessExclusiveLock';`, then
  clear the task. A failed `plan_vacuum` skips the VACUUMs; `plan_reindex` still runs.
- **`sweep_invalid_indexes` failed**: leftovers of a failed concurrent reindex stay (invalid
  indexes cost writes, not reads); the next week's run sweeps them, or clear the task.
- **`finished` upstream failed**: on purpose: the run is failed when any VACUUM, REINDEX or the
  sweep failed, while `report` still records what was done. Look at the failed task above it.
- **`wait_for_replicas` failed**: replicas stayed behind; maintenance did nothing. Retry after
  the replica catches up (runbook 000).
- **`vacuum_table` / `reindex_index` failed after retries** with *lock timeout*: something holds
  the table all the time (a long transaction, a migration). Find it:
  `SELECT pid, state, xact_start, query FROM pg_stat_activity ORDER BY xact_start;`. Clear the task
  later; nothing is half-done (a failed concurrent reindex leaves an invalid index that
  `sweep_invalid_indexes` drops, this run or the next).
- **`statement timeout`**: the table or index outgrew `maintenance.statement_timeout`; raise it.
- **`report` shows deadlocks rising**: runbook 001, *Check for Deadlocks*; look at the application's
  lock order.
"""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.sdk import dag, task

from analytics_ops.core.config import load_config
from analytics_ops.core.dag_defaults import suite_dag_args
from analytics_ops.maintenance import tasks as maintenance
from analytics_ops.replication.sensors import ReplicaLagSensor

DAG_ID = "analytics_weekly_maintenance"
CONFIG = load_config()
HEAVY = CONFIG.maintenance.pool


@dag(
    schedule="0 2 * * 0",
    start_date=datetime(2020, 1, 1, tzinfo=UTC),
    max_active_runs=1,
    **suite_dag_args(DAG_ID, doc_md=__doc__),
)
def analytics_weekly_maintenance():
    tables = task(maintenance.plan_vacuum)()
    ReplicaLagSensor(task_id="wait_for_replicas") >> tables
    vacuumed = task(maintenance.vacuum_table, pool=HEAVY).expand(table=tables)
    indexes = task(maintenance.plan_reindex, trigger_rule="all_done")()
    vacuumed >> indexes
    reindexed = task(maintenance.reindex_index, pool=HEAVY).expand(index=indexes)
    swept = task(maintenance.sweep_invalid_indexes, trigger_rule="all_done")()
    reindexed >> swept
    task(maintenance.report, trigger_rule="all_done")(vacuumed, reindexed, swept)
    [vacuumed, reindexed, swept] >> task(maintenance.finished)()


analytics_weekly_maintenance()
