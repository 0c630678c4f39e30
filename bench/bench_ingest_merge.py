"""Runbook 000's merge at volume: 1.5 million staged events of four kinds (arrived in time order over
a day, as an ingest appends them) folded into their hourly rollups.

Ours: analytics_ingest_merge's path (`ingest.merge.merge` over a suite session): batches of the
shipped `ingest_merge.batch_rows` (50000), each one `FOR UPDATE SKIP LOCKED` delete-into-upsert
transaction, the kill switch read before each, kinds taking turns. Baseline: one hand-written
statement moving the same staged rows, typed into psql (`WITH moved AS (DELETE ... RETURNING)
INSERT ... ON CONFLICT DO UPDATE`: one transaction holding every row, no kill switch, nothing for
concurrent ingest). Target: ours at least 0.8x the baseline's throughput (time at most 1.25x) while
every batch stays under 1 s.
"""

from __future__ import annotations

from datetime import timedelta

from bench.common import alternate, checkpoint, ensure_database, psql, report, use_database

DBNAME = "aops_bench_ingest_merge"
ROWS = 1_500_000
KINDS = ("page_view", "page_view", "api_call", "task_event", "signup")  # page views: 40 %

BASELINE = """
BEGIN;
WITH moved AS (
    DELETE FROM analytics_events_stage RETURNING kind, received_at
)
INSERT INTO analytics_events_rollup AS r (kind, hour, event_count, first_received_at, last_received_at)
SELECT kind, date_trunc('hour', received_at, 'UTC'), count(*), min(received_at), max(received_at)
FROM moved
GROUP BY 1, 2
ON CONFLICT (kind, hour) DO UPDATE SET
    event_count = r.event_count + excluded.event_count,
    first_received_at = least(r.first_received_at, excluded.first_received_at),
    last_received_at = greatest(r.last_received_at, excluded.last_received_at),
    merged_at = clock_timestamp();
COMMIT;
"""


def _load() -> None:
    from analytics_ops.core.db import connect

    ensure_database(DBNAME)
    use_database(DBNAME)
    with connect(application_name="analytics-ops:bench", statement_timeout=timedelta(minutes=30)) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS bench_stage_source (LIKE analytics_events_stage INCLUDING DEFAULTS)")
        if conn.execute("SELECT count(*) FROM bench_stage_source").fetchone()[0] == ROWS:
            print(f"  {DBNAME}: reused {ROWS:,} staged events", flush=True)
            return
        conn.execute("TRUNCATE bench_stage_source")
        conn.execute(
            "INSERT INTO bench_stage_source (id, kind, payload, received_at) "
            "SELECT i, (%(kinds)s::text[])[1 + i %% %(n)s], jsonb_build_object('user', i %% 5000, 'n', i), "
            "'2026-11-30 00:00+00'::timestamptz + i * interval '57 milliseconds' "
            "FROM generate_series(1, %(rows)s) AS i",
            {"kinds": list(KINDS), "n": len(KINDS), "rows": ROWS},
        )
    print(f"  {DBNAME}: generated {ROWS:,} staged events", flush=True)


def _reset() -> None:
    """Every trial starts from the same staged rows, empty rollups, fresh statistics (not measured)."""
    psql(
        DBNAME,
        "TRUNCATE analytics_events_stage, analytics_events_rollup, analytics_merge_control, ops.ingest_merge_runs;\n"
        "INSERT INTO analytics_events_stage SELECT * FROM bench_stage_source;\n"
        "VACUUM ANALYZE analytics_events_stage;\n",
    )
    checkpoint()


def _check() -> None:
    from analytics_ops.core.db import connect

    with connect(application_name="analytics-ops:bench") as conn:
        left = conn.execute("SELECT count(*) FROM analytics_events_stage").fetchone()[0]
        folded = conn.execute("SELECT sum(event_count) FROM analytics_events_rollup").fetchone()[0]
    if left or folded != ROWS:
        raise RuntimeError(f"{left} rows left staged, {folded} folded of {ROWS}")


def run() -> list[dict]:
    from analytics_ops.core.config import load_config
    from analytics_ops.core.db import connect
    from analytics_ops.ingest.merge import merge

    _load()
    settings = load_config().ingest_merge
    slowest: list[float] = []
    batches: list[int] = []

    def ours() -> None:
        with connect(
            application_name="analytics-ops:bench", statement_timeout=settings.batch_statement_timeout
        ) as conn:
            parts = merge(conn, settings)
        slowest.append(max(p.slowest_batch_seconds for p in parts))
        batches.append(sum(p.batches for p in parts))
        _check()

    def baseline() -> None:
        psql(DBNAME, BASELINE)
        _check()

    ours_s, base_s = alternate(ours, baseline, _reset)
    worst = max(slowest)
    throughput = base_s / ours_s
    return [
        report(
            f"ingest merge of {ROWS:,} staged events, {len(set(KINDS))} kinds, in {batches[0]} batches of "
            f"{settings.batch_rows:,} ({ROWS / ours_s:,.0f} rows/s) vs one DELETE ... RETURNING into an upsert in psql",
            ours_s,
            base_s,
            "throughput >= 0.8x the single statement's, every batch under 1 s",
            throughput >= 0.8 and worst < 1.0,
            f"throughput {throughput:.2f}x, slowest batch {worst:.2f} s",
        )
    ]
