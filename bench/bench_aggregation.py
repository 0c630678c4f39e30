"""Daily aggregation through the DAG's own code path versus one hand-written INSERT ... SELECT in psql.

1. One day with 1,000,000 tasks across 100,000 users (target: ours <= 1.15x the raw statement).
2. A 365-day backfill (5,000 tasks a day) cut into the DAG's chunks, written `parallel_chunks` at a
   time as the mapped tasks are, versus one set-based statement over the whole range (target <= 1.5x).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta

from bench.common import alternate, checkpoint, ensure_database, psql, render, report, use_database

DAY = date(2026, 1, 15)
YEAR_END = date(2025, 12, 31)


def _load(dbname: str, users: int, days: int, tasks_per_day: int, last_day: date) -> None:
    from analytics_ops.core.db import connect
    from analytics_ops.demo.data import DemoScale, load_demo_data

    ensure_database(dbname)
    with connect(application_name="analytics-ops:bench") as conn:
        result = load_demo_data(conn, DemoScale(users, days, tasks_per_day, 42, last_day))
    verb = "generated" if result.loaded else "reused"
    print(f"  {dbname}: {verb} {result.tasks:,} tasks in {result.seconds:.1f}s", flush=True)


def _truncate(dbname: str) -> None:
    psql(dbname, "TRUNCATE daily_analytics;")
    checkpoint()


def _raw_statement(day_range, settings) -> str:
    from analytics_ops.aggregation.daily import _aggregate_params
    from analytics_ops.core.db import sql_file

    return render(sql_file("aggregation/aggregate_days"), _aggregate_params(day_range, settings))


def bench_one_day() -> dict:
    from analytics_ops.aggregation.daily import DayRange, aggregate_days, resolve_day_range
    from analytics_ops.core.config import load_config
    from analytics_ops.core.db import connect

    dbname = "aops_bench_day"
    _load(dbname, users=100_000, days=1, tasks_per_day=1_000_000, last_day=DAY)
    use_database(dbname)
    settings = load_config().aggregation
    raw = _raw_statement(DayRange(DAY, DAY), settings)

    def ours() -> None:
        # What the DAG's tasks do for the scheduled run of the next day.
        day_range = resolve_day_range(
            None,
            None,
            run_date=datetime.combine(DAY + timedelta(days=1), datetime.min.time(), UTC),
            max_days=366,
            earliest_day=settings.earliest_day,
        )
        with connect(application_name="analytics-ops:bench") as conn:
            aggregate_days(conn, day_range, settings)

    def baseline() -> None:
        psql(dbname, f"BEGIN;\n{raw};\nCOMMIT;\n")

    ours_s, base_s = alternate(ours, baseline, lambda: _truncate(dbname))
    return report("aggregation, 1 day of 1M tasks / 100k users", ours_s, base_s, "<= 1.15x", ours_s / base_s <= 1.15)


def bench_backfill_year() -> dict:
    from analytics_ops.aggregation.daily import DayRange, aggregate_days, resolve_day_range, split_into_chunks
    from analytics_ops.core.config import load_config
    from analytics_ops.core.db import connect

    dbname = "aops_bench_year"
    _load(dbname, users=20_000, days=365, tasks_per_day=5_000, last_day=YEAR_END)
    use_database(dbname)
    settings = load_config().aggregation
    first = YEAR_END - timedelta(days=364)
    raw = _raw_statement(DayRange(first, YEAR_END), settings)

    def write_chunk(chunk: DayRange) -> None:
        with connect(application_name="analytics-ops:bench") as conn:
            aggregate_days(conn, chunk, settings)

    def ours() -> None:
        window = resolve_day_range(
            first.isoformat(),
            YEAR_END.isoformat(),
            run_date=datetime.now(UTC),
            max_days=settings.max_backfill_days,
            earliest_day=settings.earliest_day,
        )
        chunks = split_into_chunks(window, settings.chunk_days)
        with ThreadPoolExecutor(settings.parallel_chunks) as pool:
            list(pool.map(write_chunk, chunks))

    def baseline() -> None:
        psql(dbname, f"BEGIN;\n{raw};\nCOMMIT;\n")

    ours_s, base_s = alternate(ours, baseline, lambda: _truncate(dbname))
    note = f"{settings.chunk_days}-day chunks, {settings.parallel_chunks} at a time"
    return report("aggregation, 365-day backfill (1.8M tasks)", ours_s, base_s, "<= 1.5x", ours_s / base_s <= 1.5, note)


def run() -> list[dict]:
    return [bench_one_day(), bench_backfill_year()]
