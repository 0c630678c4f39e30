"""
# 6-hourly incremental backup: WAL through a slot, weekly base backup, recovery drill

Automates runbook 001 *Backup Strategy › Incremental backup: every 6 hours*. For PostgreSQL a real
incremental is WAL: a physical base backup plus every WAL segment written since, which can be
replayed to any moment in between (point-in-time recovery). See docs/backups.md for the design.

**Schedule:** every 6 hours.

**What it does**
1. `prepare_wal_slot`: the physical replication slot `backups.wal_slot` keeps the primary from
   removing WAL we have not fetched yet. Created if missing; if the server invalidated it
   (`wal_status = lost`, because it held more than `max_slot_wal_keep_size`), it is recreated and a
   new base backup is required: the WAL in between is gone.
2. `take_base_backup`: `pg_basebackup` (plain format, SHA256 backup manifest, the WAL it needs)
   to `<backups.destination>/base/base-<time>/`, checked with `pg_verifybackup`, when required,
   when no base backup is verified, or when the newest is older than `backups.base_backup_every`.
3. `fetch_wal`: `pg_switch_wal()`, then `pg_receivewal --slot --endpos` fetches everything since the
   last run into `<destination>/wal/` and exits. The segments from the newest base backup onwards
   must be contiguous. Fails if the slot still holds more than `backups.max_retained_wal_mb`.
4. `verify_restorable`: when the newest base backup is not verified yet, a recovery drill: base
   backup + all WAL recovered in a temporary cluster (on the worker, as `backups.os_user`) that must
   start and answer queries; then it is marked verified.
5. `apply_retention`: as in `analytics_backup_full`; WAL older than the oldest kept base backup goes.

## When it fails (on call)
- **`prepare_wal_slot` failed**: the suite's role needs `REPLICATION` (or superuser) to manage slots.
- **`take_base_backup` failed**: *no pg_hba.conf entry for replication*: allow the role to connect
  for replication; *could not connect, too many WAL senders*: raise `max_wal_senders`. The
  previous base backup and its WAL still give a restorable point.
- **`fetch_wal` failed**: *has gaps*: WAL was lost (slot dropped by hand?): clear
  `take_base_backup` with a new base backup. *still holds N MB*: the slot is not being read; look at
  `SELECT * FROM pg_replication_slots`. Every hour this stays red, the primary keeps more WAL on its
  disk, up to `max_slot_wal_keep_size`.
- **`apply_retention` failed**: nothing verified is at risk; old base backups and WAL stay until the
  next run deletes them. Fix the destination's permissions.
- **`verify_restorable` failed**: the newest base backup does not recover: the message has the
  recovered server's log. Take a new base backup (clear `take_base_backup`) and keep the failed one.
"""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.sdk import dag, task

from analytics_ops.backups import tasks as backups
from analytics_ops.core.dag_defaults import suite_dag_args

DAG_ID = "analytics_backup_incremental"


@dag(
    schedule="0 */6 * * *",
    start_date=datetime(2020, 1, 1, tzinfo=UTC),
    max_active_runs=1,
    **suite_dag_args(DAG_ID, doc_md=__doc__),
)
def analytics_backup_incremental():
    slot = task(backups.prepare_wal_slot)()
    base_backup = task(backups.take_base_backup)(slot)
    base_backup >> task(backups.fetch_wal)() >> task(backups.verify_restorable)() >> task(backups.apply_retention)()


analytics_backup_incremental()
