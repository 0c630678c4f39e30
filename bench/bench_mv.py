"""Refreshing runbook 001's four materialized views: in parallel (as the DAG's pool allows) versus one
after another, and REFRESH ... CONCURRENTLY versus a plain REFRESH, on 2,000,000 tasks.

There is no target: the numbers and the trade-off go to docs/benchmarks.md.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date

from bench.common import checkpoint, ensure_database, psql, report, use_database

DBNAME = "aops_bench_mv"
VIEWS = ["user_task_stats", "user_priority_distribution", "user_status_distribution", "user_monthly_trends"]


def _refresh(view: str) -> None:
    from analytics_ops.core.db import connect
    from analytics_ops.mv.refresh import refresh_view

    with connect(application_name="analytics-ops:bench") as conn:
        refresh_view(conn, view)


def _median(func, trials: int = 3) -> float:
    times = []
    for _ in range(trials):
        checkpoint()
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def run() -> list[dict]:
    from analytics_ops.core.config import load_config
    from analytics_ops.core.db import connect
    from analytics_ops.demo.data import DemoScale, load_demo_data

    ensure_database(DBNAME)
    with connect(application_name="analytics-ops:bench") as conn:
        result = load_demo_data(conn, DemoScale(50_000, 400, 5_000, 42, date(2026, 3, 1)))
    print(f"  {DBNAME}: {'generated' if result.loaded else 'reused'} {result.tasks:,} tasks", flush=True)
    use_database(DBNAME)
    slots = load_config().mv_refresh.pool_slots

    def parallel() -> None:
        with ThreadPoolExecutor(slots) as pool:
            list(pool.map(_refresh, VIEWS))

    def serial() -> None:
        for view in VIEWS:
            _refresh(view)

    results = [
        report(
            f"4 views concurrently refreshed, {slots} at a time vs one by one",
            _median(parallel),
            _median(serial),
            "none (informational)",
            True,
        )
    ]
    plain_total = concurrent_total = 0.0
    for view in VIEWS:
        concurrent_s = _median(lambda v=view: _refresh(v))
        plain_s = _median(lambda v=view: psql(DBNAME, f"REFRESH MATERIALIZED VIEW {v};"))
        plain_total += plain_s
        concurrent_total += concurrent_s
        results.append(report(f"{view}: CONCURRENTLY vs plain", concurrent_s, plain_s, "none (informational)", True))
    results.append(
        report("all four: CONCURRENTLY vs plain", concurrent_total, plain_total, "none (informational)", True)
    )
    return results
