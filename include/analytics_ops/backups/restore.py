"""Runbook 001 *Scenario 2: Accidental Deletion › Restore Specific Data*, made safe.

The runbook's `pg_restore -t tasks backup > tasks.sql; psql analytics_db < tasks.sql` writes into
production with no way back. Here a restore of chosen tables from a verified full backup goes into a
separate database (`aops_restore_<backup id>` by default) where people inspect it and copy back
what they need. Over production only with `overwrite_production` and a confirmation phrase that
repeats the tables, the database and the backup: then, in one transaction, the tables are emptied
and reloaded with the backup's rows (data only: the live tables' definitions, indexes and grants
stay); a table that another table references by a foreign key refuses the TRUNCATE and nothing
changes.

Every parameter is checked before anything runs (`plan_restore`), against the catalogue.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from analytics_ops.core.params import ParamError

IDENT = re.compile(r"^[a-z_][a-z0-9_$]{0,62}$")
DATABASE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


@dataclass(frozen=True)
class RestorePlan:
    backup_id: str
    location: str
    tables: tuple[tuple[str, str], ...]
    target_database: str
    overwrite_production: bool
    expected_rows: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        return {
            "backup_id": self.backup_id,
            "tables": [f"{s}.{t}" for s, t in self.tables],
            "target_database": self.target_database,
            "overwrite_production": self.overwrite_production,
        }


def confirmation_phrase(tables: list[str], database: str, backup_id: str) -> str:
    return f"overwrite {', '.join(sorted(tables))} in {database} from {backup_id}"


def _table_names(tables: object) -> list[tuple[str, str]]:
    if not isinstance(tables, list) or not tables:
        raise ParamError("tables: give at least one table, as schema.table (e.g. public.tasks)")
    parsed = []
    for item in tables:
        name = str(item).strip().lower()
        schema, _, table = name.rpartition(".")
        schema = schema or "public"
        if not (IDENT.match(schema) and IDENT.match(table)):
            raise ParamError(f"tables: {item!r} is not a table name; write schema.table, e.g. public.tasks")
        parsed.append((schema, table))
    return sorted(set(parsed))


def plan_restore(params: dict[str, Any], backups: list[Any], production_database: str, prefix: str) -> RestorePlan:
    """The restore the params ask for, or ParamError saying what is wrong. Touches nothing."""
    tables = _table_names(params.get("tables"))
    wanted = params.get("backup_id")
    fulls = [b for b in backups if b.kind == "full"]
    if wanted in (None, ""):
        verified = [b for b in fulls if b.verified_at is not None]
        if not verified:
            raise ParamError("backup_id: there is no verified full backup to restore from")
        backup = max(verified, key=lambda b: b.started_at)
    else:
        matches = [b for b in fulls if b.backup_id == wanted]
        if not matches:
            known = ", ".join(b.backup_id for b in sorted(fulls, key=lambda b: b.started_at)[-5:]) or "none"
            raise ParamError(f"backup_id: no full backup {wanted!r} (newest: {known})")
        backup = matches[0]
        if backup.verified_at is None:
            raise ParamError(f"backup_id: {wanted} was never verified; restore from a verified backup")
    counts = backup.manifest.get("row_counts", {})
    missing = [f"{s}.{t}" for s, t in tables if f"{s}.{t}" not in counts]
    if missing:
        raise ParamError(f"tables: {', '.join(missing)} not in backup {backup.backup_id}")
    target = (
        str(params.get("target_database") or "").strip()
        or (prefix + re.sub(r"[^a-z0-9_]", "_", backup.backup_id.lower()))[:63]
    )
    if not DATABASE.match(target):
        raise ParamError(f"target_database: {target!r} is not a database name (lower case letters, digits, _)")
    overwrite = bool(params.get("overwrite_production"))
    if target == production_database and not overwrite:
        raise ParamError(
            f"target_database: {target} is the production database; restore elsewhere, or set "
            "overwrite_production and type the confirmation phrase"
        )
    if not overwrite and not target.startswith(prefix):
        # Any other database on the server (postgres, template1, Airflow's metadata, another
        # application's) would be restored into with --clean: only this DAG's own databases.
        raise ParamError(
            f"target_database: {target} is not one of this DAG's restore databases; leave it empty or give "
            f"a name starting with {prefix} (created if missing), or overwrite production with "
            "overwrite_production and the confirmation phrase"
        )
    if overwrite:
        if params.get("target_database") and target != production_database:
            raise ParamError("overwrite_production: leave target_database empty or set it to the production database")
        target = production_database
        phrase = confirmation_phrase([f"{s}.{t}" for s, t in tables], production_database, backup.backup_id)
        if (params.get("confirm") or "").strip() != phrase:
            raise ParamError(f"confirm: to overwrite production type exactly: {phrase}")
    return RestorePlan(
        backup_id=backup.backup_id,
        location=backup.location,
        tables=tuple(tables),
        target_database=target,
        overwrite_production=overwrite,
        expected_rows={f"{s}.{t}": counts[f"{s}.{t}"] for s, t in tables},
    )


def restore_tables(plan: RestorePlan, target: Any, settings: Any, *, lock_timeout: Any, application_name: str) -> dict:
    """Carry out a plan; returns each table's rows after the restore next to the backup's count."""
    from psycopg import sql

    from analytics_ops.backups.full import count_rows
    from analytics_ops.backups.pg_tools import client_env, find_binary, run, server_major
    from analytics_ops.backups.storage import backup_path, check_destination_shared, readable_folder

    check_destination_shared(settings)  # before anything is touched, like every backup task
    source = backup_path(plan.location)
    session = {
        "application_name": application_name,
        "lock_timeout": lock_timeout,
        "statement_timeout": settings.statement_timeout,
    }
    into = target.with_dbname(plan.target_database)
    with target.connect(**session) as conn:
        major = server_major(conn)
    pg_restore = find_binary("pg_restore", major, settings.pg_bin_dir)
    with readable_folder(source) as folder:
        if plan.overwrite_production:
            psql = find_binary("psql", major, settings.pg_bin_dir)
            _overwrite(plan, into, folder, pg_restore, psql, lock_timeout, application_name)
        else:
            with target.with_dbname("postgres").connect(autocommit=True, **session) as admin:
                exists = admin.execute(
                    "SELECT 1 FROM pg_database WHERE datname = %s", (plan.target_database,)
                ).fetchone()
                if not exists:  # CREATE DATABASE cannot run in a transaction block: autocommit
                    admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(plan.target_database)))
            with into.connect(autocommit=True, **session) as restored:
                for schema in sorted({s for s, _ in plan.tables}):
                    restored.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
            with client_env(into, application_name) as env:
                for schema in sorted({s for s, _ in plan.tables}):
                    names = [f"--table={t}" for s, t in plan.tables if s == schema]
                    run(
                        [pg_restore, "--clean", "--if-exists", "--no-owner", "--exit-on-error", "--single-transaction",
                         f"--schema={schema}", *names, f"--dbname={plan.target_database}", str(folder)],
                        env,
                        target,
                    )  # fmt: skip
    with into.connect(**session) as restored:
        rows = count_rows(restored, list(plan.tables))
    return {
        **plan.as_dict(),
        "rows": {name: {"restored": rows[name], "in_backup": plan.expected_rows[name]} for name in rows},
    }


def _overwrite(
    plan: RestorePlan, into: Any, folder: Any, pg_restore: str, psql: str, lock_timeout: Any, application_name: str
) -> None:
    """TRUNCATE the tables and load the backup's rows, in one psql transaction (all or nothing).

    pg_restore's data script is piped into psql as it is written, never held in this process: a
    table of any size restores in the worker's constant memory. Should pg_restore fail half-way,
    psql is killed before its input ends, so the open transaction is rolled back, not committed.
    """
    import contextlib
    import shutil
    import subprocess
    import tempfile

    from psycopg import sql

    from analytics_ops.backups.pg_tools import PgToolError, client_env, redact

    names = sql.SQL(", ").join(sql.Identifier(s, t) for s, t in plan.tables)
    with into.connect() as conn:
        truncate = sql.SQL("TRUNCATE {}").format(names).as_string(conn)
    preamble = f"SET lock_timeout = {int(lock_timeout.total_seconds() * 1000)};\n{truncate};\n"

    def failed(program: str, errors: Any) -> PgToolError:
        errors.seek(0)
        told = redact(errors.read().decode(errors="replace").strip(), into)[-1000:]
        return PgToolError(
            f"overwriting {plan.as_dict()['tables']} failed ({program}) and was rolled back, "
            f"production is unchanged: {told}"
        )

    with client_env(into, application_name) as env, tempfile.TemporaryFile() as load_errors:
        load = subprocess.Popen(
            [psql, "--no-psqlrc", "--single-transaction", "--set=ON_ERROR_STOP=1", "--quiet", "--file=-"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=load_errors,
            env=env,
        )
        assert load.stdin is not None
        try:
            load.stdin.write(preamble.encode())
            for schema in sorted({s for s, _ in plan.tables}):
                tables = [f"--table={t}" for s, t in plan.tables if s == schema]
                with tempfile.TemporaryFile() as dump_errors:
                    dump = subprocess.Popen(
                        [pg_restore, "--data-only", "--no-owner", f"--schema={schema}", *tables, "--file=-",
                         str(folder)],
                        stdout=subprocess.PIPE,
                        stderr=dump_errors,
                        env=env,
                    )  # fmt: skip
                    assert dump.stdout is not None
                    try:
                        shutil.copyfileobj(dump.stdout, load.stdin, 1 << 16)
                    finally:
                        dump.stdout.close()
                        dumped = dump.wait()
                    if dumped != 0:
                        load.kill()  # before psql reads the end of its input and commits
                        load.wait()
                        raise failed("pg_restore", dump_errors)
            load.stdin.close()
        except BrokenPipeError:
            # psql stopped on an error (ON_ERROR_STOP): its exit code and stderr say which.
            with contextlib.suppress(BrokenPipeError):
                load.stdin.close()
        except BaseException:
            load.kill()
            load.wait()
            raise
        if load.wait() != 0:
            raise failed("psql", load_errors)
