"""
# Daily full backup, verified by a restore

Automates runbook 001 *Backup and Recovery › Backup Strategy* (daily full backup at 03:00 UTC,
30-day retention) and its *Verification* (restore on a scratch database, count rows). A backup
counts only once a restore from it has been verified.

**Schedule:** daily at 03:00 UTC. Severity P0: a day without a verified backup pages.

**What it does**
1. `dump_database`: `pg_dump --format=directory --jobs=N --compress=L` of the analytics database
   (`backups.dump_jobs`, capped at the worker's cores), on a snapshot our session exported and
   holds; in that same snapshot it counts every table's rows, so the counts are exactly the dump's.
   The manifest (`manifest.json`, written last) has a sha256 per file, the server and pg_dump
   versions, the snapshot id and the row counts. The files go to
   `<backups.destination>/full/full-<YYYYMMDDTHHMMSSZ>/` through Airflow's `ObjectStoragePath`
   (a local folder by default; S3/GCS with their provider). The password reaches pg_dump through a
   mode-600 passfile, never its command line. pg_dump gives up after `backups.lock_wait_timeout`
   rather than queue behind an exclusive lock.
2. `verify_backup`: every file's sha256 against the manifest, `pg_restore --jobs` into a scratch
   database (`aops_scratch_<backup id>`), each table's rows against the manifest, scratch dropped.
   Only then `ops.backups.verified_at` is set.
3. `apply_retention`: backups older than `backups.retention_days` (30) are deleted, never the
   newest verified full backup nor the base backup and WAL the newest restorable point needs.
   Every deletion is listed in the task output.

Re-running a run replaces its own backup (same id) and verifies it again.

## When it fails (on call)
- **`dump_database` failed**: *lock wait timeout*: a migration or a `VACUUM FULL` held an
  exclusive lock; clear the task once it is gone. *No space left*: check the destination's disk,
  then retention. *pg_dump not found / version mismatch*: install `postgresql-client-<major>` or set
  `backups.pg_bin_dir`. The last verified backup is still there (`SELECT * FROM ops.backups WHERE
  verified_at IS NOT NULL ORDER BY started_at DESC LIMIT 1`).
- **`verify_backup` failed**: treat as *no backup today*. *is corrupt, N file(s) differ*: the
  storage damaged or truncated files; re-run the whole DAG run (clear `dump_database` downstream)
  and check the storage. *restored with different rows*: stop and look, the message lists each
  table; keep the backup folder for analysis. A leftover `aops_scratch_*` database can be dropped.
- **`apply_retention` failed**: nothing verified is at risk; fix the destination's permissions.
"""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.sdk import dag, task

from analytics_ops.backups import tasks as backups
from analytics_ops.core.dag_defaults import suite_dag_args

DAG_ID = "analytics_backup_full"


@dag(
    schedule="0 3 * * *",
    start_date=datetime(2020, 1, 1, tzinfo=UTC),
    max_active_runs=1,
    **suite_dag_args(DAG_ID, doc_md=__doc__),
)
def analytics_backup_full():
    task(backups.verify_backup)(task(backups.dump_database)()) >> task(backups.apply_retention)()


analytics_backup_full()
