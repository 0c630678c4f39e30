"""Runbook 003's incident export at 10,000 and at 1,000,000 rows: time and memory.

Ours: `exports.incident.stream_csv` (what analytics_incident_export's `export_csv` runs: `COPY
(SELECT ...) TO STDOUT (FORMAT csv, HEADER)` read chunk by chunk, written chunk by chunk to an
`ObjectStoragePath`), each export in a fresh Python process that reports its own time and how much
its peak resident memory grew during the export. Baseline: the same SELECT through psql's `\\copy ...
TO 'file' WITH (FORMAT csv, HEADER)`, timed around psql. Target: the export's memory does not grow
with its rows (1,000,000 rows within 20 MB of 10,000 rows' growth).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.common import alternate, ensure_database, psql, render, report, use_database

DBNAME = "aops_bench_exports"
EVENTS = 1_000_000
START = datetime(2026, 11, 1, tzinfo=UTC)
END = START + timedelta(days=7)
ORG = "org-bench"


def _load() -> None:
    from analytics_ops.core.db import connect

    ensure_database(DBNAME)
    use_database(DBNAME)
    with connect(application_name="analytics-ops:bench", statement_timeout=timedelta(minutes=30)) as conn:
        if conn.execute("SELECT count(*) FROM usage_events WHERE org_id = %s", (ORG,)).fetchone()[0] == EVENTS:
            print(f"  {DBNAME}: reused {EVENTS:,} usage events", flush=True)
            return
        conn.execute("TRUNCATE usage_events")
        # One event every 0.6 s over the week, 4 models, realistic widths (a UUID, RFC 3339 times, JSON).
        conn.execute(
            "INSERT INTO usage_events (event_id, org_id, occurred_at, received_at, model_id, actor_id, input_tokens, "
            "output_tokens, latency_ms, status, error_code, cost_estimate_cents, metadata) "
            "SELECT md5(i::text)::uuid, %(org)s, %(start)s + i * interval '600 milliseconds', "
            "%(start)s + i * interval '600 milliseconds' + interval '40 milliseconds', 'model-' || i %% 4, "
            "'user-' || i %% 977, i %% 2048, i %% 512, 80 + i %% 900, "
            "CASE WHEN i %% 25 = 0 THEN 'error' ELSE 'success' END, CASE WHEN i %% 25 = 0 THEN 'upstream_5xx' END, "
            "(i %% 1000) / 100.0, jsonb_build_object('region', 'eu-west-1', 'request', i) "
            "FROM generate_series(0, %(n)s - 1) AS i",
            {"org": ORG, "start": START, "n": EVENTS},
        )
        conn.execute("ANALYZE usage_events")
    print(f"  {DBNAME}: generated {EVENTS:,} usage events", flush=True)


def _child(max_rows: int, destination: str) -> None:
    """One export in this fresh process: prints its seconds and its peak memory growth."""
    from airflow.sdk import ObjectStoragePath

    from analytics_ops.core.db import connect
    from analytics_ops.exports.incident import ExportRequest, stream_csv

    request = ExportRequest(ORG, None, START, END, max_rows)
    path = ObjectStoragePath(destination)
    with path.open("wb") as out:  # the storage layers imported and set up: from here on it is the export
        out.write(b"")
    with connect(application_name="analytics-ops:bench", statement_timeout=timedelta(minutes=10)) as conn:
        conn.execute("SELECT 1")
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        with path.open("wb") as out:
            exported = stream_csv(conn, request, out)
        seconds = time.perf_counter() - started
    grown_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    print(json.dumps({"seconds": seconds, "grown_kb": grown_kb, "rows": exported.rows, "bytes": exported.bytes}))


def _ours(max_rows: int, folder: Path) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "child", str(max_rows), (folder / "ours.csv").as_uri()],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def run() -> list[dict]:
    from analytics_ops.core.db import sql_file

    _load()
    results, grown = [], {}
    folder = Path(tempfile.mkdtemp(prefix="aops-bench-export-"))
    for max_rows in (10_000, 1_000_000):
        params = {"org_id": ORG, "model_id": None, "start": START, "end": END, "max_rows": max_rows}
        select = " ".join(
            line
            for line in render(sql_file("exports/incident_events"), params).splitlines()
            if not line.startswith("--")
        )
        target = folder / "psql.csv"
        measured: list[dict] = []

        def ours(max_rows: int = max_rows, measured: list[dict] = measured) -> None:
            measured.append(_ours(max_rows, folder))

        def baseline(select: str = select, target: Path = target) -> None:
            psql(DBNAME, f"\\copy ({select}) TO '{target}' WITH (FORMAT csv, HEADER)\n")

        ours_wall, base_s = alternate(ours, baseline, lambda: None)
        median = sorted(measured, key=lambda m: m["seconds"])[len(measured) // 2]
        if median["rows"] != max_rows or (folder / "ours.csv").stat().st_size != target.stat().st_size:
            raise RuntimeError(f"ours wrote {median['rows']} rows / {median['bytes']} bytes, psql {target.stat()}")
        grown[max_rows] = max(m["grown_kb"] for m in measured)
        results.append(
            report(
                f"incident export of {max_rows:,} rows ({median['bytes'] / 2**20:.1f} MB of CSV) to file:// "
                f"vs psql \\copy of the same SELECT; peak memory grew {grown[max_rows] / 1024:.1f} MB during it "
                f"(process start-up excluded: the whole process took {ours_wall:.2f} s)",
                median["seconds"],
                base_s,
                "memory flat in the rows",
                True,
            )
        )
    flat = grown[1_000_000] - grown[10_000] <= 20 * 1024
    results.append(
        report(
            "memory: 1,000,000 rows' peak growth against 10,000 rows' (MB, as ours/baseline)",
            max(grown[1_000_000], 1) / 1024,
            max(grown[10_000], 1) / 1024,
            "1,000,000 rows within 20 MB of 10,000 rows",
            flat,
        )
    )
    for file in folder.iterdir():
        file.unlink()
    folder.rmdir()
    return results


if __name__ == "__main__" and sys.argv[1:2] == ["child"]:
    _child(int(sys.argv[2]), sys.argv[3])
