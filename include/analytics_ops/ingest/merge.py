"""The merge of runbook 000: staged rows folded into their rollups, batch by batch.

Each batch is one statement in one short transaction (`sql/ingest/merge_batch.sql`): a kind's oldest
staged rows are picked, deleted by their ctids, and what the delete returned is grouped once per UTC
hour and added to the hourly rollups. The pick locks nothing while no other session holds a staged
row (rows an ingest is still inserting are invisible to it anyway); a batch that meets a held row
(another merge, an operator's UPDATE) gives up within `UNCONTENDED_LOCK_WAIT`, changed nothing, and
runs again picking with `FOR UPDATE SKIP LOCKED`, so held rows are left for later and nobody waits.
Delete and upsert commit together, so a merge killed at any point and run again loses no row and
counts none twice. The batch commits with `synchronous_commit = off` (it does not wait for its WAL
flush): a crash can only lose a batch whole, delete and upsert together, leaving its rows staged for
the next run.

Before every batch the kind's row of analytics_merge_control is read again in the batch's own
transaction: an operator who sets `enabled = false` stops the merge of that kind at its next batch,
one who lowers `batch_rows` gets smaller batches from the next one on.

A run walks each kind forward on (received_at, id) from where its previous batch ended (never
rescanning the rows it deleted) and only up to the run's start: rows staged meanwhile, or skipped
because locked, are the next run's. Kinds take turns, one batch each, so one kind's backlog does not
hold back the others.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from analytics_ops.core.config import IngestMergeSettings

START = ("-infinity", 0)  # before every (received_at, id)


@dataclass
class KindMerge:
    """One kind's share of a run: what it moved and how fast."""

    kind: str
    started_at: datetime
    rows_merged: int = 0
    batches: int = 0
    seconds: float = 0.0
    slowest_batch_seconds: float = 0.0
    batch_rows: int = 0
    stopped_by_switch: bool = False
    contended_batches: int = 0  # batches that met a row another session held and ran again skipping it
    after: tuple[Any, int] = field(default=START, repr=False)

    @property
    def rows_per_second(self) -> float:
        return self.rows_merged / self.seconds if self.seconds > 0 else 0.0

    def record(self) -> dict[str, Any]:
        row = asdict(self)
        row.pop("after")
        return row

    def __str__(self) -> str:
        text = (
            f"{self.kind}: {self.rows_merged} row(s) in {self.batches} batch(es) of up to {self.batch_rows}, "
            f"{self.seconds:.2f} s ({self.rows_per_second:,.0f} rows/s, "
            f"slowest batch {self.slowest_batch_seconds:.2f} s)"
        )
        return text + ("; stopped: merge disabled in analytics_merge_control" if self.stopped_by_switch else "")


def known_kinds(conn: Any) -> tuple[list[str], list[str]]:
    """(every kind: staged now or with a control row, recorded even when idle; the kinds staged now)."""
    from analytics_ops.core.db import sql_file

    staged = [r[0] for r in conn.execute(sql_file("ingest/staged_kinds")).fetchall()]
    controlled = [r[0] for r in conn.execute("SELECT kind FROM analytics_merge_control").fetchall()]
    return sorted(set(staged) | set(controlled)), staged


def ensure_control(conn: Any, kinds: list[str], settings: IngestMergeSettings) -> None:
    from analytics_ops.core.db import sql_file

    conn.execute(
        sql_file("ingest/ensure_control"),
        {"kinds": kinds, "enabled": settings.new_kinds_enabled, "batch_rows": settings.batch_rows},
    )
    conn.commit()


# A batch first deletes its rows without locking them first (`FOR UPDATE SKIP LOCKED` writes a lock on
# every row before its delete writes again: a third of the batch's CPU, docs/benchmarks.md "Ingest
# merge"), waiting at most this long for a row another session holds. Hitting that wait (another merge,
# an operator's UPDATE) rolls the attempt back whole and the batch runs again with `FOR UPDATE SKIP
# LOCKED`, leaving the held rows for a later run. Rows an ingest is still inserting are invisible to
# the batch either way, so ingest never waits on the merge nor the merge on it.
UNCONTENDED_LOCK_WAIT = "50ms"
_SKIP_LOCKED = "FOR UPDATE SKIP LOCKED"


def _batch_statement(*, skip_locked: bool) -> Any:
    """sql/ingest/merge_batch.sql as written (`skip_locked`), or without its locking clause: one statement to keep,
    not two copies."""
    from psycopg import sql

    from analytics_ops.core.db import sql_file

    text = sql_file("ingest/merge_batch").as_string(None)
    if text.count(_SKIP_LOCKED) != 1:
        raise RuntimeError(f"sql/ingest/merge_batch.sql must hold {_SKIP_LOCKED!r} exactly once")
    return sql.SQL(text if skip_locked else text.replace(_SKIP_LOCKED, ""))


def merge_batch(conn: Any, part: KindMerge, settings: IngestMergeSettings, until: datetime) -> bool:
    """One batch of `part.kind` in one transaction; False when the kind is done (disabled or nothing left)."""
    from psycopg.errors import LockNotAvailable

    started = time.perf_counter()
    try:
        outcome = _attempt(conn, part, settings, until, skip_locked=False)
    except LockNotAvailable:
        conn.rollback()  # nothing of the attempt stays
        part.contended_batches += 1
        outcome = _attempt(conn, part, settings, until, skip_locked=True)
    if outcome is None:
        part.stopped_by_switch = True
        return False
    moved, last_received_at, last_id, batch_rows = outcome
    elapsed = time.perf_counter() - started
    part.batch_rows = batch_rows
    if moved:
        part.batches += 1
        part.rows_merged += moved
        part.seconds += elapsed
        part.slowest_batch_seconds = max(part.slowest_batch_seconds, elapsed)
        part.after = (last_received_at, last_id)
    # Fewer rows than asked: nothing left up to the run's start (but rows held by others: next run).
    return moved == batch_rows


def _attempt(
    conn: Any, part: KindMerge, settings: IngestMergeSettings, until: datetime, *, skip_locked: bool
) -> tuple[int, Any, Any, int] | None:
    """The batch in one transaction, committed; None (nothing done) when the kind's merge is switched off."""
    from analytics_ops.core.db import sql_file

    row = conn.execute(sql_file("ingest/control"), {"kind": part.kind}).fetchone()
    enabled, batch_rows = row if row else (settings.new_kinds_enabled, settings.batch_rows)
    if not enabled:
        conn.rollback()
        return None
    # The batch's commit need not wait for its WAL to reach disk (or a synchronous standby): a crash
    # (or failover) can lose only whole transactions, so an unflushed batch is lost delete and upsert
    # together: its rows are still staged and counted in no rollup, and the next run merges them.
    # Nothing is lost or counted twice; the run's record (committed normally, after the batches)
    # flushes every batch before it.
    conn.execute("SET LOCAL synchronous_commit = off")
    if not skip_locked:
        conn.execute("SELECT set_config('lock_timeout', %s, true)", (UNCONTENDED_LOCK_WAIT,))
    moved, last_received_at, last_id = conn.execute(
        _batch_statement(skip_locked=skip_locked),
        {
            "kind": part.kind,
            "after_received_at": part.after[0],
            "after_id": part.after[1],
            "until": until,
            "batch_rows": batch_rows,
        },
    ).fetchone()
    conn.commit()
    return moved, last_received_at, last_id, batch_rows


def merge(conn: Any, settings: IngestMergeSettings) -> list[KindMerge]:
    """Merge every kind's staged rows, taking turns, until each is done, disabled or the run's time is up.

    `conn`: a session outside autocommit (each batch commits its own transaction).
    """
    run_start = time.monotonic()
    kinds, staged = known_kinds(conn)
    ensure_control(conn, staged, settings)
    until, started_at = conn.execute("SELECT clock_timestamp(), now()").fetchone()
    conn.commit()
    parts = {kind: KindMerge(kind, started_at) for kind in kinds}
    busy = [kind for kind in kinds if kind in staged]
    for kind in kinds:
        if kind not in staged:  # still read the switch: an idle disabled kind shows as stopped
            merge_batch(conn, parts[kind], settings, until)
    while busy and time.monotonic() - run_start < settings.max_run_time.total_seconds():
        busy = [kind for kind in busy if merge_batch(conn, parts[kind], settings, until)]
    return list(parts.values())


def record(conn: Any, run_id: str, parts: list[KindMerge]) -> None:
    """Each kind's throughput of this run in ops.ingest_merge_runs (one transaction)."""
    from analytics_ops.core.db import sql_file

    with conn.cursor() as cur:
        cur.executemany(sql_file("ingest/record_run"), [{"run_id": run_id, **p.record()} for p in parts])
    conn.commit()
