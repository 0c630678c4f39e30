"""Archival of ~1,000,000 of 5,000,000 daily_analytics rows.

The DAG's code path (keyset batches, each its own short transaction, size adapting to
`archival.target_batch_seconds`, `archival.parallel_workers` connections on disjoint day ranges)
versus the one-statement move of everything at once in psql
(`WITH moved AS (DELETE ... RETURNING *) INSERT ...` over all qualifying rows), measured in the same
run on the same data (target: throughput >= 0.8x the single statement's, longest batch <= 1 s).
"""

from __future__ import annotations

from datetime import date

from bench.common import alternate, checkpoint, ensure_database, psql, report, use_database

DBNAME = "aops_bench_archival"
CUTOFF = date(2024, 1, 1)
# 5,000 users x 1,000 days = 5,000,000 rows; the 200 days before the cutoff = 1,000,000 rows.
FIRST_DAY, LAST_DAY = "2023-06-15", "2026-03-10"
# What an operator would type into psql; constants only, nothing from outside.
ONE_STATEMENT = f"""
BEGIN;
WITH moved AS (DELETE FROM daily_analytics WHERE date < '{CUTOFF}' RETURNING *)
INSERT INTO daily_analytics_archive (
    date, user_id, tasks_created, tasks_completed, completion_rate, tasks_overdue, priority_low, priority_medium,
    priority_high, priority_urgent, status_todo, status_in_progress, status_done, status_cancelled, productivity_score
)
SELECT date, user_id, tasks_created, tasks_completed, completion_rate, tasks_overdue, priority_low, priority_medium,
    priority_high, priority_urgent, status_todo, status_in_progress, status_done, status_cancelled, productivity_score
FROM moved;
COMMIT;
"""


def _reset() -> None:
    # Put the archived rows back and clean up, so both sides start from the same 5M-row table.
    psql(
        DBNAME,
        """
        INSERT INTO daily_analytics SELECT date, user_id, tasks_created, tasks_completed, completion_rate,
            tasks_overdue, priority_low, priority_medium, priority_high, priority_urgent, status_todo,
            status_in_progress, status_done, status_cancelled, productivity_score
        FROM daily_analytics_archive ON CONFLICT DO NOTHING;
        TRUNCATE daily_analytics_archive;
        VACUUM (ANALYZE) daily_analytics;
        """,
    )
    checkpoint()


def run() -> list[dict]:
    from analytics_ops.archival.archive import archive
    from analytics_ops.core.config import load_config
    from analytics_ops.core.db import connect

    created = ensure_database(DBNAME)
    use_database(DBNAME)
    if created:
        psql(
            DBNAME,
            "TRUNCATE daily_analytics, daily_analytics_archive; "
            "INSERT INTO daily_analytics SELECT d::date, u, 3, 2, 66.67, 1, 1, 1, 1, 0, 1, 0, 2, 0, 5.5 "
            f"FROM generate_series('{FIRST_DAY}'::date, '{LAST_DAY}'::date, interval '1 day') AS d, "
            "generate_series(1, 5000) AS u;",
        )
    settings = load_config().archival
    last: dict = {}

    def open_connection():
        return connect(application_name="analytics-ops:bench", statement_timeout=settings.batch_statement_timeout)

    def ours() -> None:
        with open_connection() as conn:
            last["report"] = archive(conn, CUTOFF, settings, open_connection=open_connection)

    def baseline() -> None:
        psql(DBNAME, ONE_STATEMENT)

    ours_s, base_s = alternate(ours, baseline, _reset)
    moved = last["report"].moved
    longest = last["report"].longest_batch_seconds
    throughput = base_s / ours_s
    return [
        report(
            "archival, 1M of 5M rows: keyset batches vs one statement",
            ours_s,
            base_s,
            "throughput >= 0.8x (ratio <= 1.25), longest batch <= 1 s",
            throughput >= 0.8 and longest <= 1.0,
            f"{moved:,} rows moved, {moved / ours_s:,.0f} rows/s vs {moved / base_s:,.0f} rows/s "
            f"= {throughput:.2f}x; {last['report'].batches} batches, longest {longest:.3f} s",
        )
    ]
