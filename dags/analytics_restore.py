"""
# Restore tables from a verified full backup (manual)

Automates runbook 001 *Recovery Procedures › Scenario 2: Accidental Deletion › Restore Specific
Data*, without its danger: the runbook pipes `pg_restore -t` straight into production.

**Schedule:** none; trigger it from the UI with params.

**Params**
- `tables`: one or more `schema.table` (a bare name means `public`).
- `backup_id`: a full backup's id (`full-YYYYMMDDTHHMMSSZ`, see `ops.backups`); empty: the newest
  verified one. Unverified backups are refused.
- `target_database`: where the tables go; empty: a new database `aops_restore_<backup id>` on the
  same server. Any other name must start with `aops_restore_` (created if missing): no other
  database on the server (`postgres`, `template1`, Airflow's, another application's) is ever
  restored into. Re-running replaces the tables there.
- `overwrite_production` + `confirm`: only to write over the production tables. `confirm` must be
  exactly `overwrite <schema.table, ...> in <database> from <backup id>` (tables sorted, comma and
  space). Then in one transaction the tables are truncated and reloaded with the backup's rows
  (definitions, indexes and grants stay), streamed from `pg_restore` into `psql` (the worker never
  holds the data); any error, in either program, rolls everything back.

**What it does**
1. `check_params`: every param is checked against the backup catalogue before anything runs; a bad
   one fails here with a message saying what to type instead.
2. `restore_tables`: `pg_restore --table` of the chosen tables from the backup's files into the
   target, then each table's rows are counted next to the backup's count.

Afterwards, for a separate database: compare, copy back what was lost, e.g.
`INSERT INTO tasks SELECT * FROM dblink(...)` or `\\copy`; then `DROP DATABASE aops_restore_...`.

## When it fails (on call)
- **`check_params` failed**: the message says which param is wrong and what to type; nothing ran.
- **`restore_tables` failed**: *rolled back, production is unchanged*: usually a foreign key from
  another table blocks the TRUNCATE, or a lock timeout; restore into a separate database instead and
  copy rows back by hand. For a separate database, the partially restored database can be dropped.
"""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.sdk import Param, dag, task

from analytics_ops.backups import tasks as backups
from analytics_ops.core.dag_defaults import suite_dag_args

DAG_ID = "analytics_restore"


@dag(
    schedule=None,
    start_date=datetime(2020, 1, 1, tzinfo=UTC),
    max_active_runs=1,
    params={
        "tables": Param(
            ["public.tasks"],
            type="array",
            items={"type": "string"},
            minItems=1,
            title="Tables to restore",
            description="schema.table, one per line",
        ),
        "backup_id": Param(
            None, type=["null", "string"], title="Backup id", description="Empty: the newest verified full backup."
        ),
        "target_database": Param(
            None,
            type=["null", "string"],
            title="Restore into database",
            description="Empty: a new database aops_restore_<backup id>. Otherwise a name starting with aops_restore_.",
        ),
        "overwrite_production": Param(
            False, type="boolean", title="Overwrite production", description="Write over the live tables."
        ),
        "confirm": Param(
            None,
            type=["null", "string"],
            title="Confirmation (only to overwrite production)",
            description="Exactly: overwrite <schema.table, ...> in <database> from <backup id>",
        ),
    },
    **suite_dag_args(DAG_ID, doc_md=__doc__),
)
def analytics_restore():
    task(backups.restore_tables)(task(backups.check_restore_params, task_id="check_params")())


analytics_restore()
