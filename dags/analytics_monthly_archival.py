"""
# Monthly archival, statement statistics, size report

Automates runbook 001 *Database Maintenance › Monthly Maintenance*: archive analytics older than
2 years, check table bloat, review and reset query statistics.

**Schedule:** the first Sunday of each month, 02:00 UTC (`0 2 * * 0#1`).

**What it does**
1. `resolve_cutoff`: rows of `daily_analytics` dated before the cutoff move. Default: the same day
   `archival.retention_years` (2) years before the run. Param `older_than` (YYYY-MM-DD) overrides
   it; refused before anything runs if it is not a date or is closer to today than
   `archival.min_retention_days` (90).
2. `wait_for_replicas`: archival writes a lot of WAL.
3. `archive_rows`: keyset batches in (date, user_id) order; each batch is one statement,
   `WITH moved AS (DELETE ... RETURNING *) INSERT INTO daily_analytics_archive ...`, so one short
   transaction that moves its rows or leaves them: nothing lost or duplicated, even if the run is
   killed mid-way (run it again). The batch size adapts to about `archival.target_batch_seconds`.
   Passes repeat until one moves nothing, so rows written behind the cursor during the run move
   too. Counts are verified from the tables afterwards (qualified, moved, arrived, left behind
   = 0) and printed; a mismatch fails the task. Param `dry_run`: count what would move, move nothing.
4. `vacuum_source`: `VACUUM (ANALYZE) daily_analytics` (autocommit).

   `archive_rows` and `vacuum_source` run in the `maintenance.pool` Airflow pool
   (`heavy_maintenance`, 1 slot) shared with the weekly maintenance's VACUUMs and REINDEXes: on the
   first Sunday both DAGs start at 02:00 and their heavy tasks take turns instead of contending.
5. `capture_statements`: the top `archival.top_statements` rows of `pg_stat_statements` go to
   `ops.pg_stat_statements_history`, then `pg_stat_statements_reset()`, so the reset loses nothing
   (statements finishing between the two are the only gap, milliseconds).
6. `size_report`: size, dead tuples and index size of every table, largest first, and the
   estimated bloat of every b-tree index of at least `maintenance.min_index_bytes` (pgstatindex, as
   the weekly maintenance estimates it), in `ops.run_log`.

## When it fails (on call)
- **`resolve_cutoff` failed**: a bad `older_than`; the message says why. Nothing ran.
- **`archive_rows` failed**: every committed batch moved completely; just clear the task to
  finish. *lock timeout*: the daily aggregation (or someone) holds rows of old days; it retries.
  *archival counts do not add up*: stop and look, the message has every count:
  `SELECT count(*) FROM daily_analytics WHERE date < '<cutoff>';` and the same on the archive.
- **`wait_for_replicas` failed**: replicas stayed behind; nothing moved. Fix the replica (runbook
  000), then clear the task.
- **`vacuum_source` failed**: the rows are archived; only the space is not yet reusable. *lock
  timeout*: the weekly maintenance (or someone) is vacuuming `daily_analytics`; clear the task later.
- **`size_report` failed**: the archival is done; the report is for the monthly review only. Clear it.
- **`capture_statements` failed**: is `pg_stat_statements` loaded (`shared_preload_libraries`)?
  The archival itself is done.
"""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.sdk import Param, dag, task

from analytics_ops.archival import tasks as archival
from analytics_ops.core.config import load_config
from analytics_ops.core.dag_defaults import suite_dag_args
from analytics_ops.replication.sensors import ReplicaLagSensor

DAG_ID = "analytics_monthly_archival"
HEAVY = load_config().maintenance.pool


@dag(
    schedule="0 2 * * 0#1",
    start_date=datetime(2020, 1, 1, tzinfo=UTC),
    max_active_runs=1,
    params={
        "older_than": Param(
            None,
            type=["null", "string"],
            title="Archive rows dated before",
            description="YYYY-MM-DD. Empty: retention_years (2) before the run's date.",
        ),
        "dry_run": Param(False, type="boolean", title="Dry run", description="Count what would move; move nothing."),
    },
    **suite_dag_args(DAG_ID, doc_md=__doc__),
)
def analytics_monthly_archival():
    cutoff = task(archival.resolve_cutoff)()
    gate = ReplicaLagSensor(task_id="wait_for_replicas")
    cutoff >> gate
    archived = task(archival.archive_rows, pool=HEAVY)(cutoff)
    gate >> archived
    (
        archived
        >> task(archival.vacuum_source, pool=HEAVY)()
        >> task(archival.capture_statements)()
        >> task(archival.size_report)()
    )


analytics_monthly_archival()
