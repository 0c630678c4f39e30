"""The usage rollup of runbook 003: usage_events into usage_rollup_hourly, and the freshness it leaves.

A run (1) reads the watermark (every event received up to it is rolled up) and its own start, (2)
lists the buckets (organisation, model, UTC hour of occurrence) of every event received since the
watermark less `usage_rollup.late_arrival` (an event whose ingest transaction committed after the
previous run read is not missed), (3) recomputes each of those buckets whole from usage_events, in
batches of whole consecutive hours (about `usage_rollup.buckets_per_batch` buckets), each batch one
statement in its own short transaction reading its hours' events by occurrence, and (4) in one last
transaction marks every series covered up to the run's start and moves the watermark there. Buckets
are recomputed, never added to: a run killed at any point and run again, an overlap between runs or
a late event counts nothing twice; the watermark moves only at the end, so a killed run's buckets
are simply done again.

Hand-written: the rollup is three SQL statements (`sql/usage/`); the Python only batches them. An
extension such as TimescaleDB's continuous aggregates would do this inside the database, but the
suite runs on stock PostgreSQL 15 and 18 with a limited role.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from analytics_ops.core.config import UsageRollupSettings

HOUR = timedelta(hours=1)


@dataclass
class RollupRun:
    """What one run rolled up."""

    since: datetime | None  # events received after this were looked at (None: all of them)
    until: datetime  # ... up to this, the run's start: the new watermark
    buckets: int = 0
    series: int = 0
    batches: int = 0
    seconds: float = 0.0
    slowest_batch_seconds: float = 0.0
    rebuild_since: datetime | None = None

    def record(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat(),
            "buckets": self.buckets,
            "series": self.series,
            "batches": self.batches,
            "seconds": round(self.seconds, 3),
            "slowest_batch_seconds": round(self.slowest_batch_seconds, 3),
            "rebuild_since": self.rebuild_since.isoformat() if self.rebuild_since else None,
        }

    def __str__(self) -> str:
        looked = f"received after {self.since.isoformat()}" if self.since else "every event (first run)"
        rebuilt = f", and every hour from {self.rebuild_since.isoformat()} rebuilt" if self.rebuild_since else ""
        return (
            f"rolled up {self.buckets} hourly bucket(s) of {self.series} organisation/model series ({looked}, up to "
            f"{self.until.isoformat()}{rebuilt}) in {self.batches} batch(es), {self.seconds:.2f} s, slowest batch "
            f"{self.slowest_batch_seconds:.2f} s"
        )


def batches(touched: list[Any], size: int) -> list[list[Any]]:
    """The buckets (ordered by hour) cut into batches of whole, consecutive hours: a batch reads the events of its
    hours by occurrence, so it spans no hour it has no bucket in. A batch closes at `size` buckets or more (an hour's
    buckets are never split: one hour of every series is the smallest read)."""
    out: list[list[Any]] = []
    for bucket in touched:
        hour = bucket[2]
        if out and out[-1][-1][2] == hour:
            out[-1].append(bucket)
        elif out and len(out[-1]) < size and out[-1][-1][2] + HOUR == hour:
            out[-1].append(bucket)
        else:
            out.append([bucket])
    return out


def roll_up(conn: Any, settings: UsageRollupSettings, *, rebuild_since: datetime | None = None) -> RollupRun:
    """One run (see the module docstring). `conn`: a session outside autocommit; each batch commits."""
    from analytics_ops.core.db import sql_file

    watermark, run_start = conn.execute(sql_file("usage/watermark")).fetchone()
    since = watermark - settings.late_arrival if watermark is not None else None
    run = RollupRun(since=since, until=run_start, rebuild_since=rebuild_since)
    touched = conn.execute(
        sql_file("usage/touched_buckets"), {"since": since, "until": run_start, "rebuild_since": rebuild_since}
    ).fetchall()
    conn.commit()
    newest: dict[tuple[str, str], datetime] = {}
    for org_id, model_id, _, received in touched:
        key = (org_id, model_id)
        newest[key] = max(newest.get(key, received), received)
    for batch in batches(touched, settings.buckets_per_batch):
        began = time.perf_counter()
        conn.execute(
            sql_file("usage/rollup_buckets"),
            {
                "org_ids": [b[0] for b in batch],
                "model_ids": [b[1] for b in batch],
                "hours": [b[2] for b in batch],
                "hours_from": batch[0][2],
                "hours_to": batch[-1][2] + HOUR,
            },
        )
        conn.commit()
        elapsed = time.perf_counter() - began
        run.batches += 1
        run.buckets += len(batch)
        run.seconds += elapsed
        run.slowest_batch_seconds = max(run.slowest_batch_seconds, elapsed)
    conn.execute(
        sql_file("usage/finish_run"),
        {
            "org_ids": [k[0] for k in newest],
            "model_ids": [k[1] for k in newest],
            "newest": list(newest.values()),
            "until": run_start,
        },
    )
    conn.commit()
    run.series = len(newest)
    return run


def freshness(conn: Any) -> list[tuple[str, str, float, str]]:
    """(org_id, model_id, lag_seconds, status) of every series in freshness_status, the most behind first."""
    from analytics_ops.core.db import sql_file

    return [tuple(r) for r in conn.execute(sql_file("usage/freshness")).fetchall()]
