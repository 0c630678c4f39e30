"""pgBackRest side by side (issue #15): one database backed up and restored by the suite and by pgBackRest.

A throwaway PostgreSQL cluster of the benchmark's own (initdb in a temporary folder under the stack
folder, a free port, run by the unprivileged OS user of the stack's servers, removed afterwards),
with `archive_mode = on` and pgBackRest's `archive-push` as its `archive_command`, bootstrapped like
the stack's primary (deploy/bootstrap.sh: every suite call connects as the suite's limited role) and
loaded with the demo loader. pgBackRest runs as the server's OS user with a config file of the
benchmark's own (`--config` on every call, the archive_command's included), its repository, log
and lock folders in the same temporary folder.

Measured once each in the same run, ratio = suite / pgBackRest (below 1: the suite is faster):

1. full backup: `take_full_backup` (pg_dump -Fd) vs `pgbackrest backup --type=full`, each at its
   defaults (the shipped config: dump_jobs 1, gzip 1; pgBackRest: process-max 1, gz level 6), then
   matched (dump_jobs 2, gzip 1 vs process-max 2, gz level 1); the physical `take_base_backup`
   (pg_basebackup, uncompressed, one stream) vs pgBackRest full uncompressed with one process, and
   vs its defaults. Goal: the suite within 1.2x of pgBackRest's time.
2. incremental, after the same writes: `pgbackrest backup --type=incr` vs the suite's `fetch_wal`
   (and, on PostgreSQL 17+, the suite's incremental base backup; n/a before 17). Reported.
3. restore to a cluster that answers: pgBackRest restore (process-max 2) into a new data directory,
   started and promoted, vs the suite's verification restore of the matched dump
   (`verify_full_backup`: checksums, pg_restore -j2 into a fresh database, row counts) and vs the
   suite's recovery of the base backup plus the fetched WAL (`start_recovered_cluster`).
   Goal: no slower (ratio <= 1.0).

pgBackRest runs with `start-fast=y` (its default waits for the next spread checkpoint, up to
minutes; the suite's pg_basebackup asks for a fast one). A CHECKPOINT precedes every measurement.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from pathlib import Path
from types import SimpleNamespace
from typing import Any

STANZA = "bench"
DBNAME = "aops_bench_pgbackrest"
# 2,400,000 tasks over 400 days and 30,000 users: about 1.3 GB with indexes, rollups and views.
USERS, DAYS, TASKS_PER_DAY = 30_000, 400, 6_000
FULL_GOAL, RESTORE_GOAL = 1.2, 1.0
# The writes an incremental backup then carries: a day of new tasks, and a tenth of the newest
# tasks closed (what a few hours of the product's traffic do to the tables).
WRITES = """
INSERT INTO tasks (user_id, title, status, priority, created_at, due_at, updated_at)
SELECT user_id, title || ' (new)', 'todo', priority, created_at + interval '1 day', due_at + interval '1 day', now()
FROM tasks ORDER BY id DESC LIMIT 100000;
UPDATE tasks SET status = 'done', completed_at = greatest(created_at, now()), updated_at = now()
WHERE id > (SELECT max(id) - 500000 FROM tasks) AND id % 10 = 0 AND status <> 'done';
"""


def _bin(name: str) -> str:
    return str(Path(os.environ.get("AOPS_LOCAL_PG_BIN", "/usr/bin")) / name)


def _clean_env() -> dict[str, str]:
    """Our environment without libpq's or pgBackRest's variables: nothing reaches a tool by accident."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PG")}


class Cluster:
    """A throwaway PostgreSQL cluster in `folder`, run by `os_user` (when we are root)."""

    def __init__(self, folder: Path, port: int, os_user: str) -> None:
        self.folder, self.port, self.os_user = folder, port, os_user
        self.data, self.run, self.log = folder / "data", folder / "run", folder / "server.log"

    def as_user(self, argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        from analytics_ops.backups.pg_tools import as_os_user

        # In a folder of its own: the server's user may not be allowed into our working directory.
        kwargs.setdefault("cwd", self.folder)
        done = subprocess.run(
            as_os_user(argv, self.os_user), env=_clean_env(), capture_output=True, text=True, check=False, **kwargs
        )
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv[:3])} exited with {done.returncode}: {done.stderr.strip()[-2000:]}")
        return done

    def init(self, settings: list[str]) -> None:
        self.run.mkdir(parents=True, exist_ok=True)
        _hand_to(self.folder, self.os_user)
        self.as_user(
            [_bin("initdb"), "-D", str(self.data), "-U", "postgres", "--auth-local=trust",
             "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8"]
        )  # fmt: skip
        self.configure(settings)

    def configure(self, settings: list[str]) -> None:
        lines = [f"port = {self.port}", "listen_addresses = '127.0.0.1'", f"unix_socket_directories = '{self.run}'"]
        with (self.data / "postgresql.auto.conf").open("a") as conf:
            conf.write("\n# analytics-ops bench_pgbackrest\n" + "\n".join(lines + settings) + "\n")

    def start(self) -> None:
        self.run.mkdir(exist_ok=True)
        _hand_to(self.run, self.os_user)
        self.as_user([_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w", "-t", "600", "start"])

    def stop(self, mode: str = "fast") -> None:
        if (self.data / "postmaster.pid").exists():
            from analytics_ops.backups.pg_tools import as_os_user

            subprocess.run(
                as_os_user([_bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"], self.os_user),
                env=_clean_env(),
                cwd=self.folder,
                capture_output=True,
                check=False,
            )

    def superuser(self, dbname: str = "postgres") -> Any:
        import psycopg

        return psycopg.connect(host=str(self.run), port=self.port, user="postgres", dbname=dbname, autocommit=True)


def _hand_to(path: Path, os_user: str) -> None:
    if os.geteuid() == 0:
        shutil.chown(path, os_user)
        for item in path.rglob("*"):
            shutil.chown(item, os_user)


class PgBackRest:
    """pgBackRest with the benchmark's own config file, run as the server's OS user."""

    def __init__(self, folder: Path, cluster: Cluster) -> None:
        self.cluster = cluster
        self.config = folder / "pgbackrest.conf"
        for name in ("repo", "log", "lock", "spool"):
            (folder / name).mkdir(parents=True)
        self.config.write_text(
            "[global]\n"
            f"repo1-path={folder / 'repo'}\n"
            "repo1-retention-full=99\n"
            f"log-path={folder / 'log'}\n"
            f"lock-path={folder / 'lock'}\n"
            f"spool-path={folder / 'spool'}\n"
            "log-level-console=warn\n"
            "log-level-file=info\n"
            "start-fast=y\n"
            f"\n[{STANZA}]\n"
            f"pg1-path={cluster.data}\n"
            f"pg1-port={cluster.port}\n"
            f"pg1-socket-path={cluster.run}\n"
        )
        _hand_to(folder, cluster.os_user)

    @property
    def archive_command(self) -> str:
        return f"pgbackrest --config={self.config} --stanza={STANZA} archive-push %p"

    def __call__(self, *args: str) -> str:
        return self.cluster.as_user(["pgbackrest", f"--config={self.config}", f"--stanza={STANZA}", *args]).stdout

    def last_backup(self) -> dict[str, Any]:
        return json.loads(self("info", "--output=json"))[0]["backup"][-1]


def _timed(func: Callable[[], Any], before: Callable[[], None]) -> tuple[float, Any]:
    before()
    start = time.perf_counter()
    value = func()
    return time.perf_counter() - start, value


def _line(
    name: str, suite: tuple[float, int | None], pgbr: tuple[float, int | None], goal: float | None
) -> dict[str, Any]:
    (suite_s, suite_b), (pgbr_s, pgbr_b) = suite, pgbr
    ratio = suite_s / pgbr_s
    passed = goal is None or ratio <= goal

    def size(b: int | None) -> str:
        return "" if b is None else f", {b:,} B ({b / 2**20:,.0f} MiB)"

    goal_text = "reported" if goal is None else f"<= {goal:.1f}x {'PASS' if passed else 'MISS'}"
    print(
        f"{name}: suite {suite_s:.3f}s{size(suite_b)}; pgBackRest {pgbr_s:.3f}s{size(pgbr_b)}; "
        f"ratio {ratio:.2f}x; goal {goal_text}",
        flush=True,
    )
    return {
        "name": name,
        "ours": suite_s,
        "baseline": pgbr_s,
        "ratio": ratio,
        "target": goal_text,
        "passed": passed,
        "suite_bytes": suite_b,
        "baseline_bytes": pgbr_b,
    }


def _tasks(target: Any) -> int:
    with target.connect() as conn:
        return conn.execute("SELECT count(*) FROM tasks").fetchone()[0]


def run() -> list[dict]:
    from analytics_ops.backups.pg_tools import PgTarget
    from analytics_ops.backups.recovery import free_port
    from analytics_ops.core.config import load_config

    if shutil.which("pgbackrest") is None:
        raise RuntimeError(
            "pgbackrest is not installed: apt-get install -y --no-install-recommends pgbackrest "
            "(scripts/stack.sh install does, as root)"
        )
    config = load_config()
    settings = config.backups
    work = Path(tempfile.mkdtemp(prefix="aops-bench-pgbackrest-", dir=os.environ.get("AOPS_STACK_DIR")))
    primary = Cluster(work / "primary", free_port(), settings.os_user)
    target = PgTarget(
        "127.0.0.1", primary.port, os.environ["AOPS_LOCAL_PG_USER"], DBNAME, os.environ["AOPS_LOCAL_PG_PASSWORD"]
    )
    stoppers: list[Callable[[], None]] = [primary.stop]
    try:
        _hand_to(work, settings.os_user)
        pgbr = PgBackRest(work / "pgbackrest", primary)
        _set_up(primary, target, pgbr)
        return _measure(primary, target, pgbr, config, work, stoppers)
    finally:
        for stop in reversed(stoppers):
            stop()
        shutil.rmtree(work, ignore_errors=True)


def _set_up(primary: Cluster, target: Any, pgbr: PgBackRest) -> None:
    from psycopg import sql

    from analytics_ops.core.config import load_config
    from analytics_ops.core.db import connect
    from analytics_ops.core.migrations import apply_migrations
    from analytics_ops.demo.data import DemoScale, load_demo_data

    primary.init(
        [
            "shared_preload_libraries = 'pg_stat_statements'",
            "wal_level = replica",
            "max_wal_senders = 10",
            "max_replication_slots = 10",
            "shared_buffers = 256MB",
            "work_mem = 64MB",
            "maintenance_work_mem = 256MB",
            "max_wal_size = 4GB",
            # As the local stack: a disposable cluster, durability traded for speed.
            "fsync = off",
            "synchronous_commit = off",
            "full_page_writes = off",
            "log_min_messages = warning",
            "archive_mode = on",
            # Switched to pgBackRest's archive-push once loaded: the load's WAL is in no backup
            # measured here, and pushing it would only slow the load down.
            "archive_command = '/bin/true'",
            *(["summarize_wal = on"] if _major() >= 17 else []),
        ]
    )
    primary.start()
    stack = os.environ["AOPS_STACK_DIR"]
    env = {
        **_clean_env(),
        "PATH": f"{Path(_bin('psql')).parent}:{os.environ['PATH']}",
        "PGHOST": str(primary.run),
        "PGPORT": str(primary.port),
        "PGUSER": "postgres",
        "PGDATABASE": "postgres",
        "PGDATA": str(primary.data),
        "ANALYTICS_DB": DBNAME,
        "ANALYTICS_HBA_ADDRESS": "127.0.0.1/32",
        "ANALYTICS_OPS_ROLE": target.user,
        "ANALYTICS_OPS_PASSWORD": target.password,
        "ANALYTICS_REPLICATION_PASSWORD": Path(stack, "secrets", "replication_password").read_text().strip(),
    }
    root = Path(__file__).resolve().parents[1]
    subprocess.run(["bash", str(root / "deploy" / "bootstrap.sh")], env=env, check=True, stdout=subprocess.DEVNULL)
    # The suite's own connection (analytics_db) now means the throwaway cluster's database.
    os.environ["AIRFLOW_CONN_ANALYTICS_DB"] = json.dumps(
        {"conn_type": "postgres", "host": target.host, "port": target.port, "login": target.user,
         "password": target.password, "schema": DBNAME}
    )  # fmt: skip
    with connect() as conn:
        apply_migrations(conn)
    with connect(statement_timeout=load_config().backups.statement_timeout) as conn:
        loaded = load_demo_data(conn, DemoScale(USERS, DAYS, TASKS_PER_DAY, last_day=date(2026, 11, 1)))
    print(f"demo data: {loaded.tasks:,} tasks in {loaded.seconds:.0f}s", flush=True)
    with primary.superuser(DBNAME) as conn:
        conn.execute("VACUUM (ANALYZE)")
        # ALTER SYSTEM takes no bound parameter: the command is inlined as a quoted literal.
        conn.execute(sql.SQL("ALTER SYSTEM SET archive_command = {}").format(sql.Literal(pgbr.archive_command)))
        conn.execute("SELECT pg_reload_conf()")
        conn.execute("CHECKPOINT")
    pgbr("stanza-create")
    pgbr("check")


def _major() -> int:
    from analytics_ops.backups.pg_tools import program_major

    return program_major(_bin("pg_ctl"))


def _measure(
    primary: Cluster, target: Any, pgbr: PgBackRest, config: Any, work: Path, stoppers: list[Callable[[], None]]
) -> list[dict]:
    from airflow.sdk import ObjectStoragePath

    from analytics_ops.backups.full import take_full_backup, verify_full_backup
    from analytics_ops.backups.recovery import free_port, start_recovered_cluster, wait_promoted
    from analytics_ops.backups.storage import local_path
    from analytics_ops.backups.wal import fetch_wal, slot_state, take_base_backup

    settings = config.backups
    suite_dir = work / "suite"
    suite_dir.mkdir()
    app = "analytics-ops:bench"

    def checkpoint() -> None:
        with primary.superuser() as conn:
            conn.execute("CHECKPOINT")

    def dump(name: str, variant: Any) -> Callable[[], tuple[Any, int]]:
        def go() -> tuple[Any, int]:
            dest = ObjectStoragePath((suite_dir / name).as_uri())
            manifest = take_full_backup(
                target, dest, f"full-{name}", variant, lock_timeout=config.database.lock_timeout, application_name=app
            )
            return dest, manifest["size_bytes"]

        return go

    def pgbr_full(*options: str) -> Callable[[], int]:
        def go() -> int:
            pgbr("backup", "--type=full", *options)
            return pgbr.last_backup()["info"]["repository"]["delta"]

        return go

    with primary.superuser() as conn:
        db_bytes = conn.execute("SELECT pg_database_size(%s)", (DBNAME,)).fetchone()[0]
        cluster_bytes = conn.execute("SELECT sum(pg_database_size(datname)) FROM pg_database").fetchone()[0]
    print(f"database {DBNAME}: {db_bytes / 2**30:.2f} GiB; whole cluster {cluster_bytes / 2**30:.2f} GiB", flush=True)
    results = []

    # 1. Full backups.
    defaults = settings
    matched = settings.model_copy(update={"dump_jobs": 2, "compression_level": 1})
    s_time, (_, s_bytes) = _timed(dump("defaults", defaults), checkpoint)
    p_time, p_bytes = _timed(pgbr_full(), checkpoint)
    default_pgbr = (p_time, p_bytes)
    results.append(
        _line(
            f"full backup, defaults: pg_dump -Fd -j{min(defaults.dump_jobs, os.cpu_count() or 1)} "
            f"-Z{defaults.compression_level} vs pgbackrest process-max=1 gz level 6",
            (s_time, s_bytes),
            (p_time, p_bytes),
            FULL_GOAL,
        )
    )
    # The physical base backup; the slot first, so the WAL after it is kept for the suite's fetch.
    with target.connect() as conn:
        slot_state(conn, settings.wal_slot, create=True)
    base_dest = ObjectStoragePath((suite_dir / "base").as_uri())
    wal_dest = ObjectStoragePath((suite_dir / "wal").as_uri())
    s_time, base_manifest = _timed(
        lambda: take_base_backup(target, base_dest, "base-bench", settings, application_name=app), checkpoint
    )
    p_time, p_bytes = _timed(pgbr_full("--compress-type=none"), checkpoint)
    base = (s_time, base_manifest["size_bytes"])
    results.append(
        _line("base backup: pg_basebackup (plain, uncompressed) vs pgbackrest full uncompressed, process-max=1",
              base, (p_time, p_bytes), FULL_GOAL)
    )  # fmt: skip
    results.append(_line("base backup: pg_basebackup vs pgbackrest full, defaults", base, default_pgbr, FULL_GOAL))
    s_time, (matched_dump, s_bytes) = _timed(dump("matched", matched), checkpoint)
    p_time, p_bytes = _timed(pgbr_full("--process-max=2", "--compress-type=gz", "--compress-level=1"), checkpoint)
    results.append(
        _line(
            "full backup, matched: pg_dump -Fd -j2 -Z1 vs pgbackrest process-max=2 gz level 1",
            (s_time, s_bytes),
            (p_time, p_bytes),
            FULL_GOAL,
        )
    )

    # 2. Incremental, on top of the matched full (pgBackRest's newest): the WAL written so far is
    # fetched first (not measured), then the same writes for both.
    def fetch() -> dict:
        return fetch_wal(target, wal_dest, settings, application_name=app, timeout=600)

    fetch()
    with target.connect() as conn:
        conn.execute(WRITES)

    def suite_fetch() -> int:
        folder = local_path(wal_dest)
        return sum((folder / name).stat().st_size for name in fetch()["fetched"] if (folder / name).exists())

    s_time, s_bytes = _timed(suite_fetch, checkpoint)
    p_time, _ = _timed(lambda: pgbr("backup", "--type=incr"), checkpoint)
    p_bytes = pgbr.last_backup()["info"]["repository"]["delta"]
    results.append(
        _line("incremental after the same writes: suite fetch_wal (pg_receivewal) vs pgbackrest --type=incr",
              (s_time, s_bytes), (p_time, p_bytes), None)
    )  # fmt: skip
    if _major() >= 17:
        parent = SimpleNamespace(location=str(base_dest), backup_id="base-bench", manifest=base_manifest)
        incr_dest = ObjectStoragePath((suite_dir / "incr").as_uri())
        s_time, incr_manifest = _timed(
            lambda: take_base_backup(target, incr_dest, "incr-bench", settings, application_name=app, parent=parent),
            checkpoint,
        )
        results.append(
            _line("incremental: suite pg_basebackup --incremental vs pgbackrest --type=incr",
                  (s_time, incr_manifest["size_bytes"]), (p_time, p_bytes), None)
        )  # fmt: skip
    else:
        print("incremental: suite incremental base backup: n/a (PostgreSQL 17+ only)", flush=True)
    expected_tasks = _tasks(target)

    # 3. Restores, each to a cluster that answers the suite's role with every task there.
    restored = Cluster(work / "pgbr-restore", free_port(), settings.os_user)
    stoppers.append(lambda: restored.stop("immediate"))
    restored.data.mkdir(parents=True, mode=0o700)
    restored.run.mkdir()
    _hand_to(restored.folder, settings.os_user)
    restored_target = replace(target, port=restored.port)

    def pgbr_restore() -> None:
        pgbr("restore", f"--pg1-path={restored.data}", "--process-max=2")
        # The restored postgresql.auto.conf has pgBackRest's restore_command; this copy must not
        # archive into the primary's stanza.
        restored.configure(["archive_mode = off", "shared_buffers = 128MB"])
        restored.start()
        wait_promoted(restored_target, restored.log, timeout=600)  # the suite's own wait, for pgBackRest's restore too

    p_time, _ = _timed(pgbr_restore, checkpoint)
    if _tasks(restored_target) != expected_tasks:
        raise RuntimeError("pgBackRest's restore does not have every task")
    restored.stop("immediate")
    shutil.rmtree(restored.folder, ignore_errors=True)
    s_time, _ = _timed(
        lambda: verify_full_backup(
            target, matched_dump, settings, lock_timeout=config.database.lock_timeout, application_name=app
        ),
        checkpoint,
    )
    restore_jobs = min(settings.restore_jobs, os.cpu_count() or 1)
    results.append(
        _line(
            f"restore: suite verify_full_backup (checksums, pg_restore -j{restore_jobs} "
            "of the matched dump, row counts) vs pgbackrest restore process-max=2 + start + promoted",
            (s_time, None),
            (p_time, None),
            RESTORE_GOAL,
        )
    )
    recovery_root = work / "suite-recovery"
    recovery_root.mkdir()
    _hand_to(recovery_root, settings.os_user)
    recovered: list[Any] = []

    def suite_recover() -> None:
        recovered.append(
            start_recovered_cluster(
                base_dest,
                wal_dest,
                settings,
                folder=recovery_root / "cluster",
                port=free_port(),
                target_time=None,
                template=target,
                server_major_version=_major(),
            )
        )
        stoppers.append(lambda: recovered[0].stop(remove=True))

    s_time, _ = _timed(suite_recover, checkpoint)
    if _tasks(recovered[0].target) != expected_tasks:
        raise RuntimeError("the suite's recovery does not have every task")
    recovered[0].stop(remove=True)
    results.append(
        _line("restore: suite start_recovered_cluster (base backup + fetched WAL) vs pgbackrest restore + start",
              (s_time, None), (p_time, None), RESTORE_GOAL)
    )  # fmt: skip
    return results
