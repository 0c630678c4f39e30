"""Runbook 004's SIRA at volume: analytics_txn_anomalies' scoring of one hour over 10,000 merchants,
each with a week of hourly aggregates (169 hours x 10,000 merchants = 1.69 million rows of
txn_hourly_agg), 10 of them planted as spikes in the scored hour.

Ours: the task's path (`transactions.anomalies.score` over a suite session, every merchant's score
brought back, then `record`: the scan and its anomalies in one transaction). Baseline: the scoring
query alone typed into psql (no target: its time; the ratio says what the Python side and the
recording add).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bench.common import alternate, ensure_database, psql, render, report, use_database

DBNAME = "aops_bench_txn_anomalies"
MERCHANTS = 10_000
HISTORY_HOURS = 168
HOUR = datetime(2026, 11, 8, 12, tzinfo=UTC)
SPIKES = 10


def _load() -> None:
    from analytics_ops.core.db import connect

    ensure_database(DBNAME)
    use_database(DBNAME)
    rows = MERCHANTS * (HISTORY_HOURS + 1)
    with connect(application_name="analytics-ops:bench", statement_timeout=timedelta(minutes=30)) as conn:
        if conn.execute("SELECT count(*) FROM txn_hourly_agg").fetchone()[0] == rows:
            print(f"  {DBNAME}: reused {rows:,} hourly aggregates", flush=True)
            return
        conn.execute("TRUNCATE txn_hourly_agg")
        # Each merchant's own level (5..104 a hour) with hour-to-hour noise; the first SPIKES merchants
        # ten times their level in the scored hour.
        conn.execute(
            "INSERT INTO txn_hourly_agg (hour, merchant_id, currency, tx_count, gross_volume_local) "
            "SELECT %(hour)s::timestamptz - h * interval '1 hour', m, 'EUR', "
            "  (5 + m %% 100 + (hashint8(m * 1000 + h) & 15))"
            "  * CASE WHEN h = 0 AND m <= %(spikes)s THEN 10 ELSE 1 END, "
            "  100 "
            "FROM generate_series(1, %(merchants)s) AS m CROSS JOIN generate_series(0, %(history)s) AS h",
            {"hour": HOUR, "spikes": SPIKES, "merchants": MERCHANTS, "history": HISTORY_HOURS},
        )
        conn.execute("ANALYZE txn_hourly_agg")
    print(f"  {DBNAME}: generated {rows:,} hourly aggregates", flush=True)


def run() -> list[dict]:
    from analytics_ops.core.config import load_config
    from analytics_ops.core.db import connect, sql_file
    from analytics_ops.transactions.anomalies import record, score

    _load()
    settings = load_config().transactions.model_copy(update={"anomaly_history_hours": HISTORY_HOURS})
    scans: list = []

    def ours() -> None:
        with connect(application_name="analytics-ops:bench") as conn:
            scan = score(conn, HOUR, settings)
            record(conn, "bench", scan)
        scans[:] = [scan]

    raw = render(
        sql_file("transactions/score_anomalies"),
        {"hour": HOUR, "history_hours": HISTORY_HOURS, "min_history": settings.anomaly_min_history_hours},
    )
    ours_s, base_s = alternate(ours, lambda: psql(DBNAME, raw + ";"), lambda: None)
    scan = scans[0]
    flagged = {a.merchant_id for a in scan.anomalies}
    if len(scan.scores) != MERCHANTS or not set(range(1, SPIKES + 1)) <= flagged:
        raise RuntimeError(f"scored {len(scan.scores)} merchants, flagged {sorted(flagged)[:20]}")
    return [
        report(
            f"anomaly scoring of one hour over {MERCHANTS:,} merchants x {HISTORY_HOURS} h of history "
            f"({MERCHANTS * (HISTORY_HOURS + 1):,} rows), {len(flagged)} anomalies stored "
            "vs the scoring query in psql",
            ours_s,
            base_s,
            "none (its time)",
            True,
        )
    ]
