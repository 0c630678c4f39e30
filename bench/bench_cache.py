"""Cache warming for 100,000 active users, 5 metrics each.

1. The DAG's code path (set-based metrics per chunk, pipelined SET EX) versus the runbook's way,
   measured in the same run: batches of 10 users, one query per metric per user, one Redis command
   per key (target: ours >= 20x faster).
2. Our Redis write phase versus `redis-benchmark` pipelined SET on the same server, one client, the
   same pipeline depth and value size (target: >= 0.5 of its throughput).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from datetime import UTC, datetime, timedelta

from bench.common import ensure_database, report, use_database

DBNAME = "aops_bench_cache"
LAST_DAY = datetime(2026, 2, 14, tzinfo=UTC).date()
AS_OF = datetime(2026, 2, 15, 0, 0, tzinfo=UTC)
ACTIVE_USERS = 100_000
REDIS_DB = 14

# The runbook's jobs/cache_warming.py, as its METRICS_TO_CACHE and BATCH_SIZE = 10 describe it.
RUNBOOK_QUERIES = {
    "task_totals": (
        "SELECT count(*), count(*) FILTER (WHERE status = 'done'), "
        "count(*) FILTER (WHERE status IN ('todo', 'in_progress')), count(*) FILTER (WHERE status = 'cancelled'), "
        "count(*) FILTER (WHERE status IN ('todo', 'in_progress') AND due_at < %(as_of)s) "
        "FROM tasks WHERE user_id = %(user_id)s AND NOT deleted"
    ),
    "completion_rate": (
        "SELECT round(100.0 * count(*) FILTER (WHERE status = 'done') / nullif(count(*), 0), 2) "
        "FROM tasks WHERE user_id = %(user_id)s AND NOT deleted"
    ),
    "priority_distribution": (
        "SELECT priority, count(*) FROM tasks WHERE user_id = %(user_id)s AND NOT deleted GROUP BY priority"
    ),
    "status_distribution": (
        "SELECT status, count(*) FROM tasks WHERE user_id = %(user_id)s AND NOT deleted GROUP BY status"
    ),
    "productivity_score": (
        "SELECT coalesce(sum(CASE priority WHEN 'low' THEN 1 WHEN 'medium' THEN 2 WHEN 'high' THEN 3 ELSE 4 END) "
        "FILTER (WHERE completed_at >= %(since)s AND completed_at < %(as_of)s), 0) - 0.5 * count(*) FILTER ("
        "WHERE due_at >= %(since)s AND due_at < %(as_of)s AND status <> 'cancelled' "
        "AND (completed_at IS NULL OR completed_at > due_at)) FROM tasks WHERE user_id = %(user_id)s AND NOT deleted"
    ),
}


def _redis():
    import redis

    return redis.Redis(host="127.0.0.1", port=int(os.environ["AOPS_LOCAL_REDIS_PORT"]), db=REDIS_DB)


def _prepare() -> list[int]:
    from analytics_ops.cache.warming import WarmWindow, active_users
    from analytics_ops.core.db import connect
    from analytics_ops.demo.data import DemoScale, load_demo_data

    ensure_database(DBNAME)
    with connect(application_name="analytics-ops:bench") as conn:
        result = load_demo_data(conn, DemoScale(140_000, 14, 100_000, 42, LAST_DAY))
        print(f"  {DBNAME}: {'generated' if result.loaded else 'reused'} {result.tasks:,} tasks", flush=True)
        users = active_users(conn, WarmWindow.ending(AS_OF, 7), ACTIVE_USERS)
    assert len(users) == ACTIVE_USERS, f"only {len(users)} active users in the bench data"
    return users


def _ours(users: list[int]) -> dict:
    """What the DAG does: chunks of cache.chunk_users, cache.parallel_chunks at a time (the mapped
    warm_chunk tasks), each one query and batched writes."""
    from concurrent.futures import ThreadPoolExecutor

    from analytics_ops.cache.warming import WarmWindow, cache_entries, chunk, metric_rows, write_entries
    from analytics_ops.core.config import load_config
    from analytics_ops.core.db import connect

    config = load_config()
    window = WarmWindow.ending(AS_OF, config.cache.active_days)
    client = _redis()

    def warm(ids: list[int]) -> dict:
        with connect(application_name="analytics-ops:bench") as conn:
            start = time.perf_counter()
            entries = cache_entries(metric_rows(conn, ids, window, config), config.cache)
            middle = time.perf_counter()
            keys = write_entries(client, entries, config.cache)
        sizes = [len(v) for _, v in entries[:5000]]
        return {"compute": middle - start, "write": time.perf_counter() - middle, "keys": keys, "sizes": sizes}

    with ThreadPoolExecutor(config.cache.parallel_chunks) as pool:
        parts = list(pool.map(warm, chunk(users, config.cache.chunk_users)))
    sizes = parts[0]["sizes"]
    return {
        "compute": sum(p["compute"] for p in parts),
        "write": sum(p["write"] for p in parts),
        "keys": sum(p["keys"] for p in parts),
        "avg_value": sum(sizes) // len(sizes),
    }


def _runbook_way(users: list[int]) -> int:
    from analytics_ops.core.db import connect

    client = _redis()
    since = AS_OF - timedelta(days=7)
    keys = 0
    with connect(application_name="analytics-ops:bench-runbook") as conn:
        for start in range(0, len(users), 10):
            for user_id in users[start : start + 10]:
                params = {"user_id": user_id, "since": since, "as_of": AS_OF}
                for metric, query in RUNBOOK_QUERIES.items():
                    rows = conn.execute(query, params).fetchall()
                    client.set(f"analytics:{metric}:{user_id}", json.dumps(rows, default=str), ex=7 * 3600)
                    keys += 1
    return keys


def _all_entries(users: list[int]) -> list[tuple[str, str]]:
    from analytics_ops.cache.warming import WarmWindow, cache_entries, metric_rows
    from analytics_ops.core.config import load_config
    from analytics_ops.core.db import connect

    config = load_config()
    with connect(application_name="analytics-ops:bench") as conn:
        rows = metric_rows(conn, users, WarmWindow.ending(AS_OF, config.cache.active_days), config)
    return cache_entries(rows, config.cache)


def _redis_benchmark(requests: int, pipeline: int, value_size: int) -> float:
    """SET requests per second, one client, as redis-benchmark measures them."""
    out = subprocess.run(
        [
            "redis-benchmark",
            "-h",
            "127.0.0.1",
            "-p",
            os.environ["AOPS_LOCAL_REDIS_PORT"],
            "--dbnum",
            str(REDIS_DB),
            "-c",
            "1",
            "-P",
            str(pipeline),
            "-n",
            str(requests),
            "-d",
            str(value_size),
            "-r",
            "1000000",
            "-t",
            "set",
            "--csv",
        ],  # fmt: skip
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return float(re.search(r'"SET","([0-9.]+)"', out).group(1))


def run() -> list[dict]:
    from analytics_ops.core.config import load_config

    use_database(DBNAME)
    users = _prepare()
    client = _redis()

    client.flushdb()
    started = time.perf_counter()
    ours = _ours(users)
    ours_total = time.perf_counter() - started

    client.flushdb()
    started = time.perf_counter()
    runbook_keys = _runbook_way(users)
    runbook_total = time.perf_counter() - started
    client.flushdb()

    speedup = runbook_total / ours_total
    results = [
        report(
            "cache warming, 100k users x 5 metrics vs the runbook's per-user loop",
            ours_total,
            runbook_total,
            ">= 20x faster (ratio <= 0.05)",
            speedup >= 20,
            f"{speedup:.1f}x faster; ours wrote {ours['keys']:,} keys (5 metrics + overview per user), "
            f"the loop {runbook_keys:,}; ours, summed over {load_config().cache.parallel_chunks} parallel chunk "
            f"workers: {ours['compute']:.2f}s SQL, {ours['write']:.2f}s Redis",
        )
    ]
    # Redis write throughput measured on its own: one client writing every key in batches, as a
    # chunk does, against redis-benchmark with one client.
    entries = _all_entries(users)
    client.flushdb()
    started = time.perf_counter()
    from analytics_ops.cache.warming import write_entries

    write_entries(client, entries, load_config().cache)
    ops_ours = len(entries) / (time.perf_counter() - started)
    ops_bench = _redis_benchmark(len(entries), load_config().cache.pipeline_commands, ours["avg_value"])
    client.flushdb()
    results.append(
        report(
            "Redis write phase vs redis-benchmark pipelined SET (1 client)",
            1 / ops_ours,
            1 / ops_bench,
            ">= 0.5 of redis-benchmark's throughput (ratio <= 2.0)",
            ops_ours / ops_bench >= 0.5,
            f"ours {ops_ours:,.0f} SET/s, redis-benchmark {ops_bench:,.0f} SET/s = {ops_ours / ops_bench:.2f} "
            f"of it (pipeline {load_config().cache.pipeline_commands}, ~{ours['avg_value']} B values)",
        )
    )
    return results
