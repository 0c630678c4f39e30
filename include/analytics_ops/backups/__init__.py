"""Backups: full dumps, WAL and base backups, retention, restore drills and restores (runbook 001).

- `tasks`: the task bodies of `analytics_backup_full`, `analytics_backup_incremental`, `analytics_restore`;
- `jobs`: what each task does, callable without a scheduler (the catalogue, then the tools);
- `full`: `pg_dump -Fd -j` on an exported snapshot, and its verification by restoring it;
- `wal`: the replication slot, `pg_receivewal`, `pg_basebackup` and the recovery drill;
- `catalog`: `ops.backups` and the retention plan; `storage`: where backups go (file://, sftp://, ...);
- `restore`: chosen tables of a verified backup into a database; `pg_tools`: running Postgres's tools.

SQL: `sql/backups/`. Operator guide: docs/backups.md.
"""
