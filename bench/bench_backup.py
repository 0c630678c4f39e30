"""Full backup of a demo database of a few GB, and its restore.

1. The DAG's `dump_database` path (`take_full_backup`: `pg_dump -Fd -j N -Z L` on an exported
   snapshot, every table's rows counted in that snapshot while it runs, sha256 of every file, the
   manifest) versus the runbook's `pg_dump $DATABASE_URL | gzip > backup.sql.gz`, measured in the
   same run on the same database (target: ours <= 1.0x the baseline's time).
2. The verification's restore, `pg_restore -j N` into a scratch database, versus `pg_restore -j 1`
   of the same dump (reported, no target).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from datetime import date
from pathlib import Path

from bench.common import admin_connect, alternate, ensure_database, report, use_database

DBNAME = "aops_bench_backup"
# 12,000,000 tasks over 800 days and 100,000 users: about 3 GB with indexes and the rollups.
USERS, DAYS, TASKS_PER_DAY = 100_000, 800, 15_000


def _pg_env() -> dict[str, str]:
    return {
        **os.environ,
        "PGHOST": "127.0.0.1",
        "PGPORT": os.environ["AOPS_LOCAL_PG_PORT"],
        "PGUSER": os.environ["AOPS_LOCAL_PG_USER"],
        "PGPASSWORD": os.environ["AOPS_LOCAL_PG_PASSWORD"],
    }


def _bin(name: str) -> str:
    return str(Path(os.environ.get("AOPS_LOCAL_PG_BIN", "/usr/bin")) / name)


def _database_bytes() -> int:
    with admin_connect() as conn:
        return conn.execute("SELECT pg_database_size(%s)", (DBNAME,)).fetchone()[0]


def run() -> list[dict]:
    from airflow.sdk import ObjectStoragePath

    from analytics_ops.backups.full import take_full_backup
    from analytics_ops.backups.pg_tools import pg_target
    from analytics_ops.core.config import load_config
    from analytics_ops.core.db import connect
    from analytics_ops.demo.data import DemoScale, load_demo_data

    ensure_database(DBNAME)
    use_database(DBNAME)
    with connect(statement_timeout=load_config().backups.statement_timeout) as conn:
        loaded = load_demo_data(conn, DemoScale(USERS, DAYS, TASKS_PER_DAY, last_day=date(2026, 11, 1)))
    if loaded.loaded:
        print(f"demo data: {loaded.tasks:,} tasks in {loaded.seconds:.0f}s", flush=True)
        with admin_connect(DBNAME) as conn:
            conn.execute("VACUUM (ANALYZE)")
    size = _database_bytes()
    config = load_config()
    settings = config.backups
    work = Path(tempfile.mkdtemp(prefix="aops-bench-backup-", dir=os.environ.get("AOPS_STACK_DIR")))
    sizes: dict[str, int] = {}
    last: dict = {}

    def reset() -> None:
        for child in work.iterdir():
            shutil.rmtree(child) if child.is_dir() else child.unlink()

    def ours() -> None:
        dest = ObjectStoragePath((work / "full").as_uri())
        last["manifest"] = take_full_backup(
            pg_target("analytics_db"),
            dest,
            "full-bench",
            settings,
            lock_timeout=config.database.lock_timeout,
            application_name="analytics-ops:bench",
        )
        sizes["ours"] = last["manifest"]["size_bytes"]

    def baseline() -> None:
        # The runbook's command: plain-format pg_dump piped through gzip (default level) to a file.
        with (work / "backup.sql.gz").open("wb") as out:
            dump = subprocess.Popen([_bin("pg_dump"), "-d", DBNAME], env=_pg_env(), stdout=subprocess.PIPE)
            subprocess.run(["gzip"], stdin=dump.stdout, stdout=out, check=True)
            dump.stdout.close()
            if dump.wait() != 0:
                raise RuntimeError("pg_dump failed")
        sizes["baseline"] = (work / "backup.sql.gz").stat().st_size

    try:
        ours_s, base_s = alternate(ours, baseline, reset, trials=2)
        rows = sum(last["manifest"]["row_counts"].values())
        jobs = last["manifest"]["jobs"]
        results = [
            report(
                f"full backup of a {size / 2**30:.1f} GiB database: pg_dump -Fd -j{jobs} + snapshot row counts + "
                "sha256 manifest vs pg_dump | gzip",
                ours_s,
                base_s,
                "<= 1.0x",
                ours_s <= base_s,
                f"{rows:,} rows counted; ours {sizes['ours'] / 2**20:,.0f} MiB (gzip -{settings.compression_level} per "
                f"file), baseline {sizes['baseline'] / 2**20:,.0f} MiB (gzip -6)",
            )
        ]
        # Restore: keep one dump, restore it with N jobs and with one.
        reset()
        ours()
        results.append(_restore(work / "full", jobs))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return results


def _restore(folder: Path, jobs: int) -> dict:
    from psycopg import sql

    from analytics_ops.backups.pg_tools import without_extensions

    scratch = "aops_bench_restore"

    def reset() -> None:
        with admin_connect() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(scratch)))
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(scratch)))

    # Restored as the suite's role, like the suite's verification: without the extensions only a
    # superuser may create, and without grants (analytics_ops.backups.pg_tools.without_extensions).
    toc = subprocess.run([_bin("pg_restore"), "--list", str(folder)], env=_pg_env(), check=True, capture_output=True)
    use_list = folder.parent / "restore.list"
    use_list.write_text(without_extensions(toc.stdout.decode(), creatable=set())[0])

    def restore(n: int) -> None:
        subprocess.run(
            [_bin("pg_restore"), f"--jobs={n}", "--exit-on-error", "--no-owner", "--no-privileges",
             f"--use-list={use_list}", f"--dbname={scratch}", str(folder)],
            env=_pg_env(),
            check=True,
        )  # fmt: skip

    try:
        parallel_s, single_s = alternate(lambda: restore(jobs), lambda: restore(1), reset, trials=2)
    finally:
        with admin_connect() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(scratch)))
    return report(
        f"restore of that dump: pg_restore -j{jobs} vs -j1",
        parallel_s,
        single_s,
        "reported (no target)",
        True,
        f"{single_s / parallel_s:.2f}x faster with {jobs} jobs",
    )
