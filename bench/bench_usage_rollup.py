"""Runbook 003's usage rollup at volume: 1,000,000 usage events of 200 organisation/model series over a
day (4,800 hourly buckets), rolled up from nothing, as analytics_usage_rollup's first run does.

Ours: `usage.rollup.roll_up` over a suite session (the buckets listed by arrival, then recomputed in
batches of the shipped `usage_rollup.buckets_per_batch`, each one statement and its own short
transaction, then the series' coverage and the watermark). Baseline: one hand-written `INSERT ...
SELECT ... GROUP BY org_id, model_id, hour` with the same aggregates (counts by status, sums,
percentile_cont P50/P95/P99), typed into psql: one transaction over the whole table. Target: ours at
most 1.5x the baseline's time (it reads the events twice, by arrival and by occurrence, and never holds
one long transaction).
"""

from __future__ import annotations

from datetime import timedelta

from bench.common import alternate, checkpoint, ensure_database, psql, report, use_database

DBNAME = "aops_bench_usage_rollup"
EVENTS = 1_000_000
ORGS, MODELS = 20, 10

BASELINE = """
BEGIN;
INSERT INTO usage_rollup_hourly (
    org_id, model_id, hour, events, successes, errors, timeouts, throttled, input_tokens, output_tokens,
    cost_estimate_cents, latency_p50_ms, latency_p95_ms, latency_p99_ms, first_event_at, last_event_at
)
SELECT org_id, model_id, date_trunc('hour', occurred_at, 'UTC'), count(*),
    count(*) FILTER (WHERE status = 'success'), count(*) FILTER (WHERE status = 'error'),
    count(*) FILTER (WHERE status = 'timeout'), count(*) FILTER (WHERE status = 'throttled'),
    sum(input_tokens), sum(output_tokens), sum(cost_estimate_cents),
    percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms),
    percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms),
    percentile_cont(0.99) WITHIN GROUP (ORDER BY latency_ms),
    min(occurred_at), max(occurred_at)
FROM usage_events
GROUP BY 1, 2, 3;
COMMIT;
"""


def _load() -> None:
    from analytics_ops.core.db import connect

    ensure_database(DBNAME)
    use_database(DBNAME)
    with connect(application_name="analytics-ops:bench", statement_timeout=timedelta(minutes=30)) as conn:
        if conn.execute("SELECT count(*) FROM usage_events").fetchone()[0] == EVENTS:
            print(f"  {DBNAME}: reused {EVENTS:,} usage events", flush=True)
            return
        conn.execute("TRUNCATE usage_events")
        # Arrived in time order as an ingest appends them: one event every 86.4 ms, series interleaved.
        conn.execute(
            "INSERT INTO usage_events (event_id, org_id, occurred_at, received_at, model_id, latency_ms, status, "
            "input_tokens, output_tokens, cost_estimate_cents) "
            "SELECT md5(i::text)::uuid, 'org-' || (i %% %(orgs)s), "
            "'2026-11-30 00:00+00'::timestamptz + i * interval '86.4 milliseconds', "
            "'2026-11-30 00:00+00'::timestamptz + i * interval '86.4 milliseconds' + interval '1 second', "
            "'model-' || (i / %(orgs)s %% %(models)s), 50 + hashint4(i) %% 2000 + 2000, "
            "(ARRAY['success', 'success', 'success', 'success', 'success', 'success', 'error', 'timeout', "
            "'throttled', 'success'])[1 + i %% 10], i %% 1000, i %% 500, (i %% 100) / 10.0 "
            "FROM generate_series(1, %(events)s) AS i",
            {"orgs": ORGS, "models": MODELS, "events": EVENTS},
        )
    print(f"  {DBNAME}: generated {EVENTS:,} usage events", flush=True)


def _reset() -> None:
    """Every trial starts from no rollup and fresh statistics (not measured)."""
    psql(
        DBNAME,
        "TRUNCATE usage_rollup_hourly, usage_rollup_series, usage_rollup_watermark;\nVACUUM ANALYZE usage_events;\n",
    )
    checkpoint()


def _check() -> None:
    from analytics_ops.core.db import connect

    with connect(application_name="analytics-ops:bench") as conn:
        buckets, events = conn.execute("SELECT count(*), sum(events) FROM usage_rollup_hourly").fetchone()
    if events != EVENTS:
        raise RuntimeError(f"{events} events rolled up of {EVENTS} ({buckets} buckets)")


def run() -> list[dict]:
    from analytics_ops.core.config import load_config
    from analytics_ops.core.db import connect
    from analytics_ops.usage.rollup import roll_up

    _load()
    settings = load_config().usage_rollup
    runs = []

    def ours() -> None:
        with connect(application_name="analytics-ops:bench", statement_timeout=settings.statement_timeout) as conn:
            runs.append(roll_up(conn, settings))
        _check()

    def baseline() -> None:
        psql(DBNAME, BASELINE)
        _check()

    ours_s, base_s = alternate(ours, baseline, _reset)
    first = runs[0]
    worst = max(r.slowest_batch_seconds for r in runs)
    return [
        report(
            f"usage rollup of {EVENTS:,} events ({ORGS * MODELS} series, {first.buckets:,} hourly buckets) in "
            f"{first.batches} batches of {settings.buckets_per_batch} buckets vs one INSERT ... SELECT ... GROUP BY in "
            "psql",
            ours_s,
            base_s,
            "<= 1.5x",
            ours_s / base_s <= 1.5,
            f"slowest batch {worst:.2f} s",
        )
    ]
