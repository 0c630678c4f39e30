"""Monthly archival of old daily_analytics rows (runbook 001 *Monthly Maintenance › Archive Old Data*).

The runbook's `INSERT ... SELECT; DELETE ...` holds two long statements' locks and, if interrupted
between them, duplicates rows. Here rows move in batches of whole days walked in primary-key order
(the key is (date, user_id)): one statement per batch (`WITH moved AS (DELETE ... RETURNING *)
INSERT ...`) moves a range of days, a range scan of the key's leading column with no join and no
separate row locking; the batch is its own short transaction and either wholly moves or wholly
stays. A run killed mid-way loses and duplicates nothing; running it again finishes the job. The
smallest batch is one day (for daily_analytics: one row per active user).

The days per batch start at `archival.batch_rows` worth of rows (from the average rows per day) and
adapt so a batch takes about `archival.target_batch_seconds`: the primary is never held for long, and
the longest batch is reported. The first pass splits the days into `archival.parallel_workers`
contiguous ranges walked at once, each on its own connection (the one-statement move keeps one core
busy; the batches still commit one by one). After a pass, another starts from the oldest day still older than the
cutoff, until none is left, so rows inserted behind the cursor while the archival ran (an old day
re-aggregated) are moved too.

Counts are verified at the end and reported: rows that qualified before, rows moved, rows that
arrived in the archive (inserted or, if the day was already archived once, replaced), rows left
behind (must be 0).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import Any

from analytics_ops.core.config import ArchivalSettings


class ArchivalCountMismatch(Exception):
    """The counts after archiving do not add up; the message has them all."""


def default_cutoff(run_day: date, years: int) -> date:
    """The same calendar day `years` before (28 Feb for a 29 Feb with no match)."""
    try:
        return run_day.replace(year=run_day.year - years)
    except ValueError:
        return run_day.replace(year=run_day.year - years, day=28)


def resolve_cutoff(older_than: object, run_day: date, settings: ArchivalSettings, today: date) -> date:
    """The cutoff (rows with `date` before it move): the param, validated, or retention_years ago."""
    from analytics_ops.core.params import ParamError, blank, parse_day

    if blank(older_than):
        return default_cutoff(run_day, settings.retention_years)
    cutoff = parse_day("older_than", older_than)
    newest_allowed = today - timedelta(days=settings.min_retention_days)
    if cutoff > newest_allowed:
        raise ParamError(
            f"older_than {cutoff} would archive data younger than archival.min_retention_days "
            f"({settings.min_retention_days} days); the latest allowed is {newest_allowed}"
        )
    return cutoff


@dataclass
class ArchivalReport:
    cutoff: date
    dry_run: bool
    qualified: int = 0
    archive_before: int = 0
    moved: int = 0
    inserted: int = 0
    replaced: int = 0
    left_behind: int = 0
    arrived: int = 0
    batches: int = 0
    passes: int = 0
    longest_batch_seconds: float = 0.0
    seconds: float = 0.0
    oldest: date | None = None
    newest: date | None = None
    batch_sizes: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("batch_sizes")
        data["largest_batch"] = max(self.batch_sizes, default=0)
        return data

    def summary(self) -> str:
        if self.dry_run:
            return (
                f"dry run: {self.qualified} rows older than {self.cutoff} would move "
                f"(dates {self.oldest}..{self.newest})"
            )
        return (
            f"rows older than {self.cutoff}: {self.qualified} qualified, {self.moved} moved in {self.batches} batches "
            f"({self.passes} passes), {self.arrived} arrived in the archive ({self.inserted} new, "
            f"{self.replaced} replaced an archived copy), {self.left_behind} left behind; "
            f"longest batch {self.longest_batch_seconds:.3f}s"
        )


def _counts(conn: Any, cutoff: date) -> tuple[int, int, date | None, date | None]:
    from analytics_ops.core.db import sql_file

    row = conn.execute(sql_file("archival/counts"), {"cutoff": cutoff}).fetchone()
    conn.commit()
    return row


def archive(
    conn: Any,
    cutoff: date,
    settings: ArchivalSettings,
    *,
    dry_run: bool = False,
    open_connection: Callable[[], AbstractContextManager[Any]] | None = None,
) -> ArchivalReport:
    """Move every daily_analytics row dated before `cutoff` to the archive, batch by batch.

    `conn` is outside autocommit; each batch is committed on its own. With `open_connection` (a
    factory of more such connections) and `archival.parallel_workers` > 1, the first pass splits the
    days into that many contiguous ranges, each walked by its own connection: the batches stay as
    short as before (each worker sizes its own), the work spreads over the server's cores where the
    one-statement move uses one.
    """
    from analytics_ops.core.db import sql_file

    report = ArchivalReport(cutoff=cutoff, dry_run=dry_run)
    started = time.perf_counter()
    report.qualified, report.archive_before, report.oldest, report.newest = _counts(conn, cutoff)
    if dry_run:
        return report
    rows_per_day = max(1, report.qualified // max(1, (report.newest - report.oldest).days + 1)) if report.oldest else 1
    workers = settings.parallel_workers if open_connection is not None else 1
    oldest = report.oldest
    while oldest is not None:
        report.passes += 1
        ranges = _split_days(oldest, cutoff, workers if report.passes == 1 else 1)
        if len(ranges) == 1:
            walks = [_walk(conn, cutoff, *ranges[0], rows_per_day, settings)]
        else:
            walks = _walk_in_parallel(conn, open_connection, cutoff, ranges, rows_per_day, settings)
        for walk in walks:
            report.batches += len(walk)
            for moved, inserted, elapsed in walk:
                report.batch_sizes.append(moved)
                report.longest_batch_seconds = max(report.longest_batch_seconds, elapsed)
                report.moved += moved
                report.inserted += inserted
        # Rows written behind the cursor while this pass ran (an old day aggregated again) move on
        # the next pass; the run ends when nothing older than the cutoff is left.
        oldest = conn.execute(sql_file("archival/oldest_left"), {"cutoff": cutoff}).fetchone()[0]
        conn.commit()
    report.replaced = report.moved - report.inserted
    # Counted again from the tables, independently of what the batches said they did.
    report.left_behind, archive_after = conn.execute(sql_file("archival/counts_after"), {"cutoff": cutoff}).fetchone()
    conn.commit()
    new_in_archive = archive_after - report.archive_before
    report.arrived = new_in_archive + report.replaced
    report.seconds = round(time.perf_counter() - started, 3)
    if report.left_behind or new_in_archive != report.inserted or report.moved < report.qualified:
        raise ArchivalCountMismatch(
            f"archival counts do not add up ({new_in_archive} new rows counted in the archive): {report.summary()}"
        )
    return report


def _split_days(first: date, cutoff: date, parts: int) -> list[tuple[date, date]]:
    """[first, cutoff) as up to `parts` contiguous day ranges of near-equal length."""
    total = (cutoff - first).days
    parts = max(1, min(parts, total))
    bounds = [first + timedelta(days=total * i // parts) for i in range(parts + 1)]
    return list(zip(bounds, bounds[1:], strict=False))


def _walk_in_parallel(
    conn: Any,
    open_connection: Callable[[], AbstractContextManager[Any]],
    cutoff: date,
    ranges: list[tuple[date, date]],
    rows_per_day: int,
    settings: ArchivalSettings,
) -> list[list[tuple[int, int, float]]]:
    """Walk each day range on its own connection (the first on `conn`), all at once."""
    from concurrent.futures import ThreadPoolExecutor

    def walk_own(day_range: tuple[date, date]) -> list[tuple[int, int, float]]:
        with open_connection() as own:
            return _walk(own, cutoff, *day_range, rows_per_day, settings)

    with ThreadPoolExecutor(max_workers=len(ranges) - 1) as pool:
        others = [pool.submit(walk_own, day_range) for day_range in ranges[1:]]
        first = _walk(conn, cutoff, *ranges[0], rows_per_day, settings)
        # .result() re-raises a worker's error; batches it committed before failing stay moved and
        # the next run finishes the job, like a run killed mid-way.
        return [first, *(future.result() for future in others)]


def _walk(
    conn: Any, cutoff: date, first: date, end: date, rows_per_day: int, settings: ArchivalSettings
) -> list[tuple[int, int, float]]:
    """Move the days [first, end) batch by batch; (moved, inserted, seconds) of each non-empty batch."""
    from psycopg.errors import UniqueViolation

    from analytics_ops.core.db import sql_file

    move, move_replacing = sql_file("archival/move_batch"), sql_file("archival/move_batch_replacing")
    days = max(1, settings.batch_rows // rows_per_day)
    done: list[tuple[int, int, float]] = []
    day = first
    while day < end:
        upto = min(end, day + timedelta(days=days))
        batch = {"cutoff": cutoff, "from_date": day, "upto_date": upto}
        batch_started = time.perf_counter()
        try:
            moved, inserted = conn.execute(move, batch).fetchone()
        except UniqueViolation:  # some rows were archived before: move the batch replacing them
            conn.rollback()
            moved, inserted = conn.execute(move_replacing, batch).fetchone()
        conn.commit()
        elapsed = time.perf_counter() - batch_started
        if moved:
            done.append((moved, inserted, elapsed))
        day = upto
        days = _next_batch_days(days, elapsed, rows_per_day, settings)
    return done


def _next_batch_days(days: int, elapsed: float, rows_per_day: int, settings: ArchivalSettings) -> int:
    """Halve or double the days per batch to keep a batch near `target_batch_seconds`."""
    target = settings.target_batch_seconds
    if elapsed > target * 1.5:
        return max(1, days // 2)
    if elapsed < target / 2:
        return max(1, min(days * 2, settings.max_batch_rows // rows_per_day))
    return days


def capture_and_reset_statements(conn: Any, top: int) -> int:
    """Keep pg_stat_statements' top statements in ops.pg_stat_statements_history, then reset it.

    The capture commits before the reset: if the reset fails, the history is kept anyway.
    """
    from analytics_ops.core.db import sql_file

    captured = conn.execute(sql_file("archival/capture_statements"), {"top": top}).rowcount
    conn.commit()
    conn.execute("SELECT pg_stat_statements_reset()")
    conn.commit()
    return captured
