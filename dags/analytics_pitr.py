"""
# Point-in-time recovery into a new cluster (manual)

Automates runbook 001 *Recovery Procedures › Scenario 1: Data Corruption* without its danger: the
runbook stops the application and runs `pg_restore` over production. Here the database is
recovered, as it was at a chosen instant, into a **new cluster** beside production (its own data
directory and port, on the worker that runs the task); production is never touched. People then
inspect it and copy back what was lost, or point the application at it.

**Schedule:** none; trigger it from the UI with params.

**Params**
- `target_time`: the instant to recover to, with its time zone (`2026-11-30T14:05:00Z`). It must be
  in the recoverable window: from the end of the oldest verified base backup to the newest WAL
  fetched (`analytics_backup_incremental`, every 6 hours); a time outside it, in the future or
  without a time zone is refused, with the window in the message. Transactions committed up to
  and including it are in the recovered cluster; later ones are not.
- `keep_running` (default on): leave the recovered cluster running for people to inspect; off:
  recover, report and remove it (a rehearsal).
- `port`: the recovered cluster's port; empty: a free one. It listens on 127.0.0.1 only.

**What it does (runbook Scenario 1, step by step)**
1. *Identify scope* is yours: find when the corruption began, e.g.
   `SELECT min(updated_at) FROM daily_analytics WHERE completion_rate > 100 OR completion_rate < 0;`
   and choose a `target_time` just before it.
2. `check_params`: the target time against the backup catalogue and the WAL folder, before anything
   is built; it picks the newest verified base backup finished before the target.
3. `recover_to_point` (*Restore from backup*, safely): copies that base backup into
   `backups.recovery_root/pitr-<run id>/data` on the worker, with the WAL after it, starts it on
   its own port with `recovery_target_time`, waits for it to promote, then (*Verify recovery*)
   reports the commit time of the last transaction it replayed, the row counts of `tasks` and
   `daily_analytics`, the host, port and data directory, how to connect and how to stop it. The
   same report is in `ops.run_log`.
4. Afterwards (people): compare with production, copy rows back (`\\copy`, `dblink`) or, for a
   corruption of the whole database, switch the application to the recovered cluster; then stop it:
   `pg_ctl -D <data directory> stop` and remove its folder (the report has the command).

## When it fails (on call)
- **`check_params` failed**: the message says what to type or what the recoverable window is; nothing
  ran. After the newest WAL: trigger `analytics_backup_incremental`, then this again.
- **`recover_to_point` failed**: *has gaps*: WAL needed after the base backup is missing (see
  `analytics_backup_incremental`'s `fetch_wal`); choose a later base backup's window. *did not
  start* / *still recovering*: the message has the recovered server's log. *exists*: a folder of
  this run is left from an earlier try: remove it. Nothing of production was touched.
"""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.sdk import Param, dag, task

from analytics_ops.backups import tasks as backups
from analytics_ops.core.dag_defaults import suite_dag_args

DAG_ID = "analytics_pitr"


@dag(
    schedule=None,
    start_date=datetime(2020, 1, 1, tzinfo=UTC),
    max_active_runs=1,
    params={
        "target_time": Param(
            None,
            type=["null", "string"],
            title="Recover to",
            description="An instant with its time zone, e.g. 2026-11-30T14:05:00Z; within the recoverable window.",
        ),
        "keep_running": Param(
            True, type="boolean", title="Keep it running", description="Off: recover, report and remove it."
        ),
        "port": Param(
            None,
            type=["null", "integer"],
            title="Port",
            description="The recovered cluster's port (127.0.0.1 only); empty: a free one.",
        ),
    },
    **suite_dag_args(DAG_ID, doc_md=__doc__),
)
def analytics_pitr():
    task(backups.recover_to_point)(task(backups.check_pitr_params, task_id="check_params")())


analytics_pitr()
