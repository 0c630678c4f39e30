"""Full logical backups (runbook 001 *Backup Strategy › Daily full backup*) that only count once restored.

A full backup is `pg_dump --format=directory --jobs=N --compress=L` started on a snapshot that our
own session exported (`pg_export_snapshot()`) and keeps open until pg_dump is done. The manifest's
row counts are counted from the dump's own data files on the worker (`dumped_row_counts`), not by
`count(*)` on the primary: counting there scanned every table a second time while pg_dump was
copying it, and on a busy primary that doubled the backup's cost to production (docs/benchmarks.md,
"under load"). Every table the database has must have its data in the dump, or the backup fails.
The manifest also has a sha256 per file, the server version, the snapshot id and the pg_dump
version; it is written last, so a folder without one is an incomplete backup.

Verification checks every file against the manifest, restores the dump with `pg_restore --jobs`
into a scratch database, compares each table's rows with the manifest and drops the scratch
database. Only then is the backup marked verified (`ops.backups.verified_at`).
"""

from __future__ import annotations

import json
import os
import re
import time
from datetime import UTC, datetime
from typing import Any

from analytics_ops.backups.pg_tools import (
    PgTarget,
    client_env,
    creatable_extensions,
    find_binary,
    finish,
    restore_list,
    run,
    server_major,
    start,
)
from analytics_ops.backups.storage import (
    MANIFEST,
    checksum_files,
    compare_checksums,
    readable_folder,
    writable_folder,
)

FORMAT_VERSION = 1


class BackupVerificationFailed(RuntimeError):
    """A backup did not restore to what its manifest promises; the message lists every difference."""


def backup_id_for(kind: str, instant: datetime) -> str:
    """`full-20261123T030000Z`: one id per scheduled run, so a re-run replaces its own backup."""
    return f"{kind}-{instant.astimezone(UTC):%Y%m%dT%H%M%SZ}"


def _timeouts(settings: Any, lock_timeout: Any) -> dict[str, Any]:
    return {"lock_timeout": lock_timeout, "statement_timeout": settings.statement_timeout}


def _tables(conn: Any) -> list[tuple[str, str]]:
    from analytics_ops.core.db import sql_file

    return [tuple(row) for row in conn.execute(sql_file("backups/tables")).fetchall()]


def count_rows(conn: Any, tables: list[tuple[str, str]]) -> dict[str, int]:
    from psycopg import sql

    counts = {}
    for schema, table in tables:
        query = sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(schema), sql.Identifier(table))
        counts[f"{schema}.{table}"] = conn.execute(query).fetchone()[0]
    return counts


def dumped_row_counts(folder: Any, tables: list[tuple[str, str]], toc: str) -> dict[str, int]:
    """Rows of each table in a directory-format dump, counted from its data files.

    `toc` is `pg_restore --list` of the dump. A data file holds the table's rows in COPY text
    format, one line per row (a newline inside a value is written as `\\n`), then the end-of-data
    line `\\.`; files are gzip-compressed when compression_level > 0. Written by hand: neither
    pg_dump nor pg_restore reports row counts.
    """
    import gzip

    data_files = {}
    for line in toc.splitlines():
        dump_id, _, rest = line.partition(";")
        if " TABLE DATA " not in rest:
            continue
        named = rest.split(" TABLE DATA ", 1)[1]
        for schema, table in tables:
            if named.startswith(f"{schema} {table} "):
                data_files[(schema, table)] = dump_id.strip()
    missing = [f"{s}.{t}" for s, t in tables if (s, t) not in data_files]
    if missing:
        raise BackupVerificationFailed(f"the dump has no data for {', '.join(missing)}")
    counts = {}
    for (schema, table), dump_id in data_files.items():
        plain, packed = folder / f"{dump_id}.dat", folder / f"{dump_id}.dat.gz"
        newlines, tail = 0, b""
        with gzip.open(packed, "rb") if packed.exists() else open(plain, "rb") as data:
            while chunk := data.read(1 << 20):
                newlines += chunk.count(b"\n")
                tail = (tail + chunk)[-64:]
        body = tail.rstrip(b"\n")
        if body != b"\\." and not body.endswith(b"\n\\."):
            raise BackupVerificationFailed(f"{schema}.{table}: data file {dump_id} does not end with \\. (cut short?)")
        trailing = len(tail) - len(body)
        counts[f"{schema}.{table}"] = newlines - trailing
    return counts


def take_full_backup(
    target: PgTarget, dest: Any, backup_id: str, settings: Any, *, lock_timeout: Any, application_name: str
) -> dict[str, Any]:
    """Dump `target`'s database into `dest` (an ObjectStoragePath folder); the manifest written."""
    started = time.perf_counter()
    with target.connect(application_name, **_timeouts(settings, lock_timeout)) as conn:
        # The snapshot pg_dump's workers share, held by this transaction until they are done.
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        snapshot = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]
        version = conn.execute("SHOW server_version").fetchone()[0]
        pg_dump = find_binary("pg_dump", server_major(conn), settings.pg_bin_dir)
        tables = _tables(conn)
        jobs = max(1, min(settings.dump_jobs, os.cpu_count() or 1))
        with writable_folder(dest) as folder, client_env(target, application_name) as env:
            proc = start(
                [
                    pg_dump,
                    "--format=directory",
                    f"--jobs={jobs}",
                    f"--compress={settings.compression_level}",
                    f"--snapshot={snapshot}",
                    f"--lock-wait-timeout={int(settings.lock_wait_timeout.total_seconds() * 1000)}",
                    "--no-password",
                    f"--file={folder}",
                ],
                env,
            )
            finish(proc, target)
            conn.rollback()
            dump_version = run([pg_dump, "--version"], env, target).strip()
            pg_restore = find_binary("pg_restore", server_major(conn), settings.pg_bin_dir)
            rows = dumped_row_counts(folder, tables, run([pg_restore, "--list", str(folder)], env, target))
            files = checksum_files(folder)
            manifest = {
                "format_version": FORMAT_VERSION,
                "backup_id": backup_id,
                "kind": "full",
                "database": target.dbname,
                "server_version": version,
                "pg_dump_version": dump_version,
                "snapshot": snapshot,
                "jobs": jobs,
                "compression_level": settings.compression_level,
                "taken_at": datetime.now(UTC).isoformat(),
                "seconds": round(time.perf_counter() - started, 3),
                "row_counts": rows,
                "files": files,
                "size_bytes": sum(item["bytes"] for item in files.values()),
            }
            (folder / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
    return manifest


def read_manifest(dest: Any) -> dict[str, Any]:
    manifest_path = dest / MANIFEST
    if not manifest_path.exists():
        raise BackupVerificationFailed(f"{dest}: no {MANIFEST}; the backup never finished")
    return json.loads(manifest_path.read_text())


def scratch_name(prefix: str, backup_id: str) -> str:
    return (prefix + re.sub(r"[^a-z0-9_]", "_", backup_id.lower()))[:63]


def verify_full_backup(
    target: PgTarget, dest: Any, settings: Any, *, lock_timeout: Any, application_name: str
) -> dict[str, Any]:
    """Checksums, then a restore into a scratch database and row counts; raises on any difference."""
    from psycopg import sql

    started = time.perf_counter()
    manifest = read_manifest(dest)
    with readable_folder(dest) as folder:
        problems = compare_checksums(manifest["files"], folder)
        if problems:
            raise BackupVerificationFailed(
                f"backup {manifest['backup_id']} is corrupt, {len(problems)} file(s) differ from its manifest: "
                + "; ".join(problems[:20])
            )
        scratch = scratch_name(settings.scratch_database_prefix, manifest["backup_id"])
        session = {"application_name": application_name, **_timeouts(settings, lock_timeout)}
        drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(scratch))
        with target.with_dbname("postgres").connect(autocommit=True, **session) as admin:
            # CREATE/DROP DATABASE cannot run inside a transaction block: autocommit is required.
            admin.execute(drop)
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(scratch)))
            try:
                pg_restore = find_binary("pg_restore", server_major(admin), settings.pg_bin_dir)
                jobs = max(1, min(settings.restore_jobs, os.cpu_count() or 1))
                with (
                    client_env(target.with_dbname(scratch), application_name) as env,
                    restore_list(pg_restore, folder, env, target, creatable_extensions(admin)) as (use_list, skipped),
                ):
                    run(
                        [
                            pg_restore,
                            f"--jobs={jobs}",
                            "--exit-on-error",
                            "--no-owner",
                            # Grants name roles and functions (of extensions left out) the scratch
                            # database need not have: the rows are what is verified.
                            "--no-privileges",
                            use_list,
                            f"--dbname={scratch}",
                            str(folder),
                        ],
                        env,
                        target,
                    )
                with target.with_dbname(scratch).connect(**session) as restored:
                    restored_rows = count_rows(restored, _tables(restored))
            finally:
                admin.execute(drop)
    expected = manifest["row_counts"]
    differences = [
        f"{table}: {restored_rows.get(table, 'missing')} restored, manifest {rows}"
        for table, rows in sorted(expected.items())
        if restored_rows.get(table) != rows
    ]
    differences += [f"{table}: restored but not in the manifest" for table in sorted(restored_rows.keys() - expected)]
    if differences:
        raise BackupVerificationFailed(
            f"backup {manifest['backup_id']} restored with different rows: " + "; ".join(differences[:20])
        )
    return {
        "backup_id": manifest["backup_id"],
        "files_checked": len(manifest["files"]),
        "tables_compared": len(expected),
        "rows_compared": sum(expected.values()),
        "scratch_database": scratch,
        "restore_jobs": jobs,
        # Extensions only a superuser may create (the tables do not need them to be counted).
        "extensions_left_out": skipped,
        "seconds": round(time.perf_counter() - started, 3),
    }
