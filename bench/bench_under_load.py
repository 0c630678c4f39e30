"""The cost to production of each heavy job, measured under a fixed-rate pgbench workload (issue 14).

A production-like workload for this schema runs against the local primary as the suite's role, at a
fixed rate (`pgbench -R`): each transaction reads one user's day of `daily_analytics`, reads that
user's row of the `user_task_stats` view, updates one task and inserts one. Its per-transaction
latencies (`--log`, measured from each transaction's scheduled start, so a stall counts for every
transaction queued behind it) give p50/p95/p99 and its errors give the client error count:

- at rest (no job), just before each job, as that job's reference;
- during each heavy job run through the suite's own library path (what the DAG's tasks call);
- during the runbooks' naive way of doing the same job, as pg_cron or a cron'd psql would.

Goal for every suite job: zero client errors and p99 within 2x of at rest. The naive side is shown
beside it, no target. The workload's sessions carry `statement_timeout` = 2 s, as an API's would: a
transaction blocked longer fails, and counts as an error.

pgbench cannot be stopped cleanly mid-run, so it runs in back-to-back segments of a few seconds
(`-T`) until the job is done; a job's window holds the transactions scheduled between its start and
its end.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from bench.common import admin_connect, checkpoint, ensure_database, psql, render, use_database

DBNAME = "aops_bench_load"
# 2,200,000 tasks over 1,100 days (3 years: the oldest year is past the archival's 2-year cutoff).
USERS, DAYS, TASKS_PER_DAY = 20_000, 1_100, 2_000
LAST_DAY = date(2026, 11, 30)
CUTOFF = date(2024, 11, 30)
BACKFILL = (LAST_DAY - timedelta(days=364), LAST_DAY)
VIEWS = ["user_task_stats", "user_priority_distribution", "user_status_distribution", "user_monthly_trends"]

RATE, CLIENTS, THREADS = 150, 4, 2
LATENCY_LIMIT_MS = 1000  # a transaction this late counts as late; one already this late is skipped
WORKLOAD_STATEMENT_TIMEOUT = "2s"
SEGMENT_SECONDS = 4
LEAD_SECONDS = 2.0  # the workload runs this long before a job starts
REST_SECONDS = 10.0
GOAL_RATIO = 2.0

WORKLOAD = f"""\\set uid random(1, {USERS})
\\set day random(0, {DAYS - 1})
\\set tid random(1, :max_task)
BEGIN;
SELECT tasks_created, tasks_completed, completion_rate, productivity_score FROM daily_analytics
    WHERE user_id = :uid AND date = date '{LAST_DAY}' - :day;
SELECT total_tasks, done_tasks, open_tasks, completion_rate FROM user_task_stats WHERE user_id = :uid;
UPDATE tasks SET status = 'in_progress', updated_at = now() WHERE id = :tid AND status = 'todo';
INSERT INTO tasks (user_id, title, status, priority, created_at) VALUES (:uid, 'from the API', 'todo', 'medium', now());
END;
"""

# The runbooks' way, as pg_cron or a cron'd psql runs it. Constants only, nothing from outside.
ARCHIVE_COLUMNS = (
    "date, user_id, tasks_created, tasks_completed, completion_rate, tasks_overdue, priority_low, priority_medium, "
    "priority_high, priority_urgent, status_todo, status_in_progress, status_done, status_cancelled, productivity_score"
)
NAIVE_ARCHIVAL = f"""
BEGIN;
WITH moved AS (DELETE FROM daily_analytics WHERE date < '{CUTOFF}' RETURNING *)
INSERT INTO daily_analytics_archive ({ARCHIVE_COLUMNS}) SELECT {ARCHIVE_COLUMNS} FROM moved;
COMMIT;
"""
NAIVE_MAINTENANCE = "VACUUM ANALYZE tasks;\nVACUUM ANALYZE daily_analytics;\nREINDEX TABLE tasks;\n"
NAIVE_REFRESH = "".join(f"REFRESH MATERIALIZED VIEW {view};\n" for view in VIEWS)


@dataclass
class Segment:
    started: float
    finished: float
    returncode: int
    aborted: int
    # (scheduled start as epoch seconds, latency in ms or None if skipped, failed)
    transactions: list[tuple[float, float | None, bool]] = field(default_factory=list)


@dataclass
class Window:
    transactions: int
    p50: float
    p95: float
    p99: float
    errors: int
    late: int
    seconds: float

    def describe(self) -> str:
        # Percentiles cover served transactions only: a client that errored out serves no more in its segment.
        served = self.transactions / (RATE * self.seconds)
        return (
            f"p50/p95/p99 {_ms(self.p50)}/{_ms(self.p95)}/{_ms(self.p99)} ms, {self.errors} errors, "
            f"{self.late} late, {self.transactions} tx in {self.seconds:.1f}s ({served:.0%} of the rate served)"
        )


def _ms(value: float) -> str:
    return f">{LATENCY_LIMIT_MS}" if value == float("inf") else f"{value:.1f}"


def _times(ratio: float) -> str:
    return "beyond the latency limit" if ratio == float("inf") else f"{ratio:.2f}x"


def _bin(name: str) -> str:
    return str(Path(os.environ.get("AOPS_LOCAL_PG_BIN", "/usr/bin")) / name)


def _pg_env(**extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "PGHOST": "127.0.0.1",
        "PGPORT": os.environ["AOPS_LOCAL_PG_PORT"],
        "PGUSER": os.environ["AOPS_LOCAL_PG_USER"],
        "PGPASSWORD": os.environ["AOPS_LOCAL_PG_PASSWORD"],
        **extra,
    }


def _parse_log(path: Path) -> list[tuple[float, float | None, bool]]:
    # PG15 per-transaction log with --rate: client tx time script epoch us schedule_lag
    rows = []
    for line in path.read_text().splitlines():
        _client, _tx, took, _script, epoch, micros, lag, *_ = line.split()
        ended = int(epoch) + int(micros) / 1e6
        if took == "skipped":
            rows.append((ended - int(lag) / 1e6, None, False))
        elif took.isdigit():
            rows.append((ended - int(took) / 1e6, int(took) / 1000, False))
        else:  # failed, serialization, deadlock
            rows.append((ended, None, True))
    return rows


def _segment(work: Path, script: Path, max_task: int, number: int) -> Segment:
    folder = work / f"segment-{number}"
    folder.mkdir()
    started = time.time()
    proc = subprocess.run(
        [
            _bin("pgbench"), "-n", "-f", str(script), "-D", f"max_task={max_task}",
            "-c", str(CLIENTS), "-j", str(THREADS), "-R", str(RATE), "-T", str(SEGMENT_SECONDS),
            "-L", str(LATENCY_LIMIT_MS), "--log", f"--log-prefix={folder}/tx", DBNAME,
        ],
        env=_pg_env(
            PGAPPNAME="aops-bench-workload", PGOPTIONS=f"-c statement_timeout={WORKLOAD_STATEMENT_TIMEOUT}"
        ),
        capture_output=True,
        text=True,
    )  # fmt: skip
    if proc.returncode not in (0, 2):  # 2: errors during the run (counted); anything else: no run at all
        raise RuntimeError(f"pgbench could not run (exit {proc.returncode}): {proc.stderr.strip()}")
    aborted = len(re.findall(r"client \d+ .*aborted", proc.stderr))
    segment = Segment(started, time.time(), proc.returncode, aborted)
    for log in folder.iterdir():
        segment.transactions.extend(_parse_log(log))
    return segment


def _under_load(job: Callable[[], Any], work: Path, script: Path, max_task: int) -> Window:
    """Run `job` while the workload runs; the workload's numbers for the transactions scheduled meanwhile."""
    segments: list[Segment] = []
    logs = Path(tempfile.mkdtemp(prefix="window-", dir=work))
    stop = threading.Event()
    failure: list[BaseException] = []

    def workload() -> None:
        try:
            while not stop.is_set():
                segments.append(_segment(logs, script, max_task, len(segments)))
        except BaseException as exc:
            failure.append(exc)

    runner = threading.Thread(target=workload, daemon=True)
    runner.start()
    try:
        time.sleep(LEAD_SECONDS)
        start = time.time()
        job()
        end = time.time()
    finally:
        stop.set()
        runner.join()
    if failure:
        raise failure[0]
    latencies, errors, late = [], 0, 0
    for segment in segments:
        if segment.started < end and segment.finished > start:
            errors += segment.aborted or (1 if segment.returncode else 0)
        for scheduled, latency, failed in segment.transactions:
            if not start <= scheduled <= end:
                continue
            errors += failed
            if failed:
                continue
            # A skipped transaction was already LATENCY_LIMIT_MS late: it counts as slower than any served.
            latencies.append(float("inf") if latency is None else latency)
            late += latency is None or latency > LATENCY_LIMIT_MS
    if len(latencies) < 20:
        raise RuntimeError(f"only {len(latencies)} workload transactions during the job: too short to measure")
    ordered = sorted(latencies)

    def percentile(q: int) -> float:  # nearest rank (tolerates the skipped transactions' inf)
        return ordered[min(len(ordered) - 1, -(-len(ordered) * q // 100) - 1)]

    return Window(len(ordered), percentile(50), percentile(95), percentile(99), errors, late, end - start)


def _load() -> int:
    from analytics_ops.core.config import load_config
    from analytics_ops.core.db import connect
    from analytics_ops.demo.data import DemoScale, load_demo_data

    ensure_database(DBNAME)
    use_database(DBNAME)
    with connect(statement_timeout=load_config().backups.statement_timeout) as conn:
        result = load_demo_data(conn, DemoScale(USERS, DAYS, TASKS_PER_DAY, 42, LAST_DAY))
    verb = "generated" if result.loaded else "reused"
    print(f"  {DBNAME}: {verb} {result.tasks:,} tasks in {result.seconds:.0f}s", flush=True)
    _restore_archived()
    with admin_connect(DBNAME) as conn:
        if result.loaded:
            conn.execute("VACUUM (ANALYZE)")
        return conn.execute("SELECT max(id) FROM tasks").fetchone()[0]


def _restore_archived() -> None:
    """Put archived rows back: both sides of the archival start from the same table."""
    psql(
        DBNAME,
        f"INSERT INTO daily_analytics ({ARCHIVE_COLUMNS}) SELECT {ARCHIVE_COLUMNS} FROM daily_analytics_archive "
        "ON CONFLICT DO NOTHING;\nTRUNCATE daily_analytics_archive;\nVACUUM (ANALYZE) daily_analytics;\n",
    )


def _make_dead_tuples() -> None:
    """A week of updates: a tenth of tasks rewritten, so VACUUM and the indexes have work to do."""
    psql(DBNAME, "UPDATE tasks SET updated_at = updated_at WHERE id % 10 = 0;")


def _suite_archival() -> None:
    from analytics_ops.archival.archive import archive
    from analytics_ops.core.config import load_config
    from analytics_ops.core.db import connect

    settings = load_config().archival

    def open_connection():
        return connect(application_name="analytics-ops:bench", statement_timeout=settings.batch_statement_timeout)

    with open_connection() as conn:
        print(f"    suite: {archive(conn, CUTOFF, settings, open_connection=open_connection).summary()}", flush=True)


def _suite_maintenance() -> None:
    from analytics_ops.core.config import load_config
    from analytics_ops.core.db import connect
    from analytics_ops.maintenance import vacuum_reindex as maintenance

    settings = load_config().maintenance
    options = {"statement_timeout": settings.statement_timeout, "application_name": "analytics-ops:bench"}
    with connect(autocommit=True, **options) as conn:
        for table in maintenance.tables_to_vacuum(conn, settings):
            maintenance.vacuum_table(conn, table)
        planned = maintenance.indexes_to_rebuild(conn, settings)
        # Every index of tasks, as if all were over the bloat threshold: what the naive REINDEX TABLE rebuilds.
        indexes = [
            f"public.{name}"
            for (name,) in conn.execute(
                "SELECT indexname FROM pg_indexes WHERE schemaname = 'public' AND tablename = 'tasks' ORDER BY 1"
            ).fetchall()
        ]
        for index in indexes:
            maintenance.reindex_index(conn, index)
        maintenance.sweep_invalid_leftovers(conn)
    print(f"    suite: reindexed {len(indexes)} indexes of tasks (over the bloat threshold: {planned})", flush=True)


def _suite_refresh() -> None:
    from analytics_ops.core.config import load_config
    from analytics_ops.core.db import connect
    from analytics_ops.mv.refresh import refresh_view

    settings = load_config().mv_refresh

    def refresh(view: str) -> None:
        with connect(application_name="analytics-ops:bench", statement_timeout=settings.statement_timeout) as conn:
            refresh_view(conn, view)

    with ThreadPoolExecutor(settings.pool_slots) as pool:  # the mv_refresh pool's slots
        list(pool.map(refresh, VIEWS))


def _suite_backup(folder: Path) -> None:
    from airflow.sdk import ObjectStoragePath

    from analytics_ops.backups.full import take_full_backup
    from analytics_ops.backups.pg_tools import pg_target
    from analytics_ops.core.config import load_config

    config = load_config()
    take_full_backup(
        pg_target("analytics_db"),
        ObjectStoragePath(folder.as_uri()),
        "full-bench-load",
        config.backups,
        lock_timeout=config.database.lock_timeout,
        application_name="analytics-ops:bench",
    )


def _naive_backup(folder: Path) -> None:
    subprocess.run([_bin("pg_dump"), "-d", DBNAME, "-f", str(folder / "backup.sql")], env=_pg_env(), check=True)


def _suite_backfill() -> None:
    from analytics_ops.aggregation.daily import DayRange, aggregate_days, split_into_chunks
    from analytics_ops.core.config import load_config
    from analytics_ops.core.db import connect

    settings = load_config().aggregation

    def write_chunk(chunk: DayRange) -> None:
        with connect(application_name="analytics-ops:bench") as conn:
            aggregate_days(conn, chunk, settings)

    chunks = split_into_chunks(DayRange(*BACKFILL), settings.chunk_days)
    with ThreadPoolExecutor(settings.parallel_chunks) as pool:  # as the DAG's mapped chunks run
        list(pool.map(write_chunk, chunks))


def _naive_backfill() -> None:
    from analytics_ops.aggregation.daily import DayRange, _aggregate_params
    from analytics_ops.core.config import load_config
    from analytics_ops.core.db import sql_file

    day_range = DayRange(*BACKFILL)
    insert = render(sql_file("aggregation/aggregate_days"), _aggregate_params(day_range, load_config().aggregation))
    delete = render(sql_file("aggregation/delete_days"), day_range.as_params())
    psql(DBNAME, f"BEGIN;\n{delete};\n{insert};\nCOMMIT;\n")


def _report(name: str, rest: Window, suite: Window, naive: Window) -> dict:
    ratio = suite.p99 / rest.p99
    naive_ratio = naive.p99 / rest.p99
    passed = suite.errors == 0 and ratio <= GOAL_RATIO
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"{name}: suite p99 {_times(ratio)} at rest, {suite.errors} errors; naive p99 {_times(naive_ratio)}, "
        f"{naive.errors} errors (target: 0 errors, p99 <= {GOAL_RATIO:g}x at rest) {'PASS' if passed else 'MISS'}\n"
        f"    at rest {rest.describe()}\n    suite   {suite.describe()}\n    naive   {naive.describe()}\n"
        f"    load average {load}",
        flush=True,
    )
    return {
        "name": name,
        "ours": suite.p99,
        "baseline": rest.p99,
        "ratio": ratio,
        "target": f"0 errors, p99 <= {GOAL_RATIO:g}x at rest",
        "passed": passed,
        "rest": rest,
        "suite": suite,
        "naive": naive,
    }


def run() -> list[dict]:
    print(f"  load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    max_task = _load()
    work = Path(tempfile.mkdtemp(prefix="aops-bench-load-", dir=os.environ.get("AOPS_STACK_DIR")))
    script = work / "workload.sql"
    script.write_text(WORKLOAD)
    backup_dir = work / "backup"

    def clear_backup() -> None:
        shutil.rmtree(backup_dir, ignore_errors=True)
        backup_dir.mkdir()

    jobs: dict[str, tuple[str, Callable[[], Any], Callable[[], Any], Callable[[], Any]]] = {
        "archival": ("archival of daily_analytics older than 2 years", _suite_archival,
                     lambda: psql(DBNAME, NAIVE_ARCHIVAL), _restore_archived),
        "maintenance": ("weekly VACUUM + REINDEX of tasks", _suite_maintenance,
                        lambda: psql(DBNAME, NAIVE_MAINTENANCE), _make_dead_tuples),
        "refresh": ("evening refresh of the 4 views", _suite_refresh, lambda: psql(DBNAME, NAIVE_REFRESH),
                    lambda: None),
        "backup": ("full backup", lambda: _suite_backup(backup_dir / "full"), lambda: _naive_backup(backup_dir),
                   clear_backup),
        "backfill": ("365-day aggregation backfill", _suite_backfill, _naive_backfill, lambda: None),
    }  # fmt: skip
    # AOPS_BENCH_UNDER_LOAD_JOBS=backup,refresh measures only those jobs (all by default).
    wanted = os.environ.get("AOPS_BENCH_UNDER_LOAD_JOBS") or ",".join(jobs)
    results = []
    try:
        for name, suite_job, naive_job, reset in (jobs[key.strip()] for key in wanted.split(",")):
            reset()
            checkpoint()
            rest = _under_load(lambda: time.sleep(REST_SECONDS), work, script, max_task)
            suite = _under_load(suite_job, work, script, max_task)
            reset()
            checkpoint()
            naive = _under_load(naive_job, work, script, max_task)
            results.append(_report(name, rest, suite, naive))
        _restore_archived()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"  load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    return results
