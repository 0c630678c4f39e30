"""Runbook 004's transaction backfill and reconciliation at volume: a month of 10,000,000 wallet
transactions across 1,000 merchants.

1. analytics_txn_backfill's path (the month cut into `transactions.chunk_hours` chunks, rebuilt
   `parallel_chunks` at a time as the mapped tasks run, each chunk one transaction: advisory locks,
   delete, insert) versus one hand-written `INSERT ... SELECT` over the month in psql, both into an
   empty txn_hourly_agg (target: ours <= 1.15x).
2. analytics_txn_reconciliation's `find_drift` over the last 3 closed hours of that month (and no
   late-arrival window), with one merchant-hour planted wrong: its time, against the drift query
   typed into psql (no target).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from bench.common import alternate, checkpoint, ensure_database, psql, render, report, use_database

DBNAME = "aops_bench_txn"
START = datetime(2026, 10, 1, tzinfo=UTC)
DAYS = 30
TRANSACTIONS = 10_000_000
MERCHANTS = 1_000


def _load() -> None:
    from analytics_ops.core.db import connect

    ensure_database(DBNAME)
    use_database(DBNAME)
    with connect(application_name="analytics-ops:bench", statement_timeout=timedelta(hours=1)) as conn:
        have = conn.execute("SELECT count(*) FROM wallet_transactions").fetchone()[0]
        if have == TRANSACTIONS:
            print(f"  {DBNAME}: reused {have:,} wallet transactions", flush=True)
            return
        started = time.perf_counter()
        conn.execute("TRUNCATE wallet_transactions, txn_hourly_agg")
        conn.execute(
            "INSERT INTO wallet_transactions (merchant_id, currency, amount, occurred_at, created_at) "
            "SELECT 1 + (hashint8(i) & 1023) %% %(m)s, 'EUR', (1 + (hashint8(i) >> 12 & 65535)) / 100.0, "
            "%(start)s + (i * %(span)s / %(n)s) * interval '1 second', "
            "%(start)s + (i * %(span)s / %(n)s) * interval '1 second' "
            "FROM generate_series(0::bigint, %(n)s - 1) AS i",
            {"m": MERCHANTS, "start": START, "span": DAYS * 86400, "n": TRANSACTIONS},
        )
        conn.execute("ANALYZE wallet_transactions")
    print(f"  {DBNAME}: generated {TRANSACTIONS:,} wallet transactions in {time.perf_counter() - started:.0f}s")


def _reset() -> None:
    psql(DBNAME, "TRUNCATE txn_hourly_agg;")
    checkpoint()


def run() -> list[dict]:
    from analytics_ops.core.config import load_config
    from analytics_ops.core.db import connect, sql_file
    from analytics_ops.transactions.hours import HourRange, drift, rebuild

    _load()
    settings = load_config().transactions
    month = HourRange(START, START + timedelta(days=DAYS))
    chunks = month.split(settings.chunk_hours)

    def rebuild_chunk(chunk: HourRange) -> None:
        with connect(application_name="analytics-ops:bench") as conn:
            rebuild(conn, chunk)

    def ours() -> None:
        with ThreadPoolExecutor(settings.parallel_chunks) as pool:
            list(pool.map(rebuild_chunk, chunks))

    raw = render(sql_file("transactions/insert_hours"), month.as_params())

    def baseline() -> None:
        psql(DBNAME, f"BEGIN;\n{raw};\nCOMMIT;\n")

    ours_s, base_s = alternate(ours, baseline, _reset)
    results = [
        report(
            f"backfill of {DAYS} days, {TRANSACTIONS:,} transactions, {MERCHANTS:,} merchants: "
            f"{len(chunks)} chunks of {settings.chunk_hours} h, {settings.parallel_chunks} at a time "
            "vs one INSERT ... SELECT over the month",
            ours_s,
            base_s,
            "<= 1.15x",
            ours_s / base_s <= 1.15,
        )
    ]

    ours()  # the month written, then one merchant-hour drifted (a double-processed hour)
    last3 = HourRange(month.end - timedelta(hours=3), month.end)
    psql(
        DBNAME,
        "UPDATE txn_hourly_agg SET tx_count = 2 * tx_count "
        f"WHERE hour = '{last3.start.isoformat()}' AND merchant_id = 7;",
    )
    found: list = []

    def reconcile() -> None:
        with connect(application_name="analytics-ops:bench") as conn:
            found[:] = drift(conn, last3)

    raw_drift = render(sql_file("transactions/hourly_drift"), last3.as_params())
    rec_s, rec_base = alternate(reconcile, lambda: psql(DBNAME, raw_drift + ";"), lambda: None)
    if len(found) != 1:
        raise RuntimeError(f"reconciliation found {len(found)} drifted rows, planted 1")
    results.append(
        report(
            f"reconciliation of the last 3 closed hours ({last3}) at that volume, 1 drift planted and found, "
            "vs the drift query in psql",
            rec_s,
            rec_base,
            "none (its time)",
            True,
        )
    )
    return results
