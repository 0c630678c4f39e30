"""Daily aggregation of tasks into daily_analytics (runbook 001, "Verify Data Aggregation").

Three steps, each a task of the DAG:
1. `resolve_day_range`: which UTC days a run processes, and refusal of bad params before any write.
2. `aggregate_days`: one transaction per chunk of days: lock the days, delete them, insert them again.
   Readers see either the old day or the new one, never half of one; a re-run gives the same rows.
3. `quality_violations`: the morning checks, run against what was written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from analytics_ops.core.config import AggregationSettings
from analytics_ops.core.params import blank, day_span, not_before


@dataclass(frozen=True, order=True)
class DayRange:
    """UTC days from `start` to `end`, both included."""

    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def as_params(self) -> dict[str, str]:
        return {"start_day": self.start.isoformat(), "end_day": self.end.isoformat()}

    @classmethod
    def from_params(cls, params: dict[str, str]) -> DayRange:
        return cls(date.fromisoformat(params["start_day"]), date.fromisoformat(params["end_day"]))

    def __str__(self) -> str:
        if self.start == self.end:
            return self.start.isoformat()
        return f"{self.start.isoformat()}..{self.end.isoformat()}"


def resolve_day_range(
    start_param: object,
    end_param: object,
    *,
    run_date: datetime,
    max_days: int,
    earliest_day: date,
    now: datetime | None = None,
) -> DayRange:
    """The days a run aggregates.

    Without params (scheduled runs, `airflow backfill create` runs, a manual run with an empty
    form) it is the UTC day before `run_date` (the run's logical date): the 01:00 run of the 23rd
    aggregates the 22nd. Airflow 3's cron runs have no data interval, so this is computed here on
    purpose instead of read from `data_interval_start`.

    With `start_date` (and optionally `end_date`, default the same day) it is that range, refused
    with a ParamError if malformed, reversed, not over yet, or longer than `max_days`.

    Either way a range that starts before `earliest_day` is refused: a typo'd year (0001, 2205 for
    2025) must not be logged as a run that aggregated nothing.
    """
    now = now or datetime.now(UTC)
    if blank(start_param) and blank(end_param):
        day = run_date.astimezone(UTC).date() - timedelta(days=1)
        not_before(day, day, section="aggregation", earliest_day=earliest_day)
        return DayRange(day, day)
    start, end = day_span(
        ("start_date", "end_date"),
        (start_param, end_param),
        section="aggregation",
        max_days=max_days,
        earliest_day=earliest_day,
        now=now,
        verb="aggregated",
    )
    return DayRange(start, end)


def split_into_chunks(day_range: DayRange, chunk_days: int) -> list[DayRange]:
    chunks = []
    start = day_range.start
    while start <= day_range.end:
        end = min(day_range.end, start + timedelta(days=chunk_days - 1))
        chunks.append(DayRange(start, end))
        start = end + timedelta(days=1)
    return chunks


def _aggregate_params(day_range: DayRange, settings: AggregationSettings) -> dict[str, Any]:
    weights = settings.priority_weights
    return {
        **day_range.as_params(),
        "weight_low": weights.low,
        "weight_medium": weights.medium,
        "weight_high": weights.high,
        "weight_urgent": weights.urgent,
        "overdue_penalty": settings.overdue_penalty,
    }


@dataclass(frozen=True)
class AggregateResult:
    day_range: DayRange
    rows_deleted: int
    rows_written: int


def aggregate_days(conn: Any, day_range: DayRange, settings: AggregationSettings) -> AggregateResult:
    """Rewrite `day_range` in daily_analytics, in one transaction on `conn` (committed here)."""
    from analytics_ops.core.db import sql_file

    with conn.cursor() as cur:
        cur.execute(sql_file("aggregation/lock_days"), day_range.as_params())
        cur.execute(sql_file("aggregation/delete_days"), day_range.as_params())
        deleted = cur.rowcount
        cur.execute(sql_file("aggregation/aggregate_days"), _aggregate_params(day_range, settings))
        written = cur.rowcount
    conn.commit()
    return AggregateResult(day_range, deleted, written)


@dataclass(frozen=True)
class Violation:
    day: date
    check: str
    offending: int

    def __str__(self) -> str:
        return f"{self.day}: {self.check} ({self.offending} offending)"


def quality_violations(conn: Any, day_range: DayRange) -> list[Violation]:
    from analytics_ops.core.db import sql_file

    with conn.cursor() as cur:
        cur.execute(sql_file("aggregation/quality_checks"), day_range.as_params())
        return [Violation(day, check, int(count)) for day, check, count in cur.fetchall()]


def describe_violations(violations: list[Violation], limit: int = 20) -> str:
    lines = [str(v) for v in violations[:limit]]
    if len(violations) > limit:
        lines.append(f"... and {len(violations) - limit} more")
    days = sorted({v.day for v in violations})
    checks = sorted({v.check for v in violations})
    shown_days = ", ".join(d.isoformat() for d in days[:5]) + (f" and {len(days) - 5} more" if len(days) > 5 else "")
    # The first line is what an alert shows: the days and the checks that failed.
    headline = f"data-quality gate failed for daily_analytics on {shown_days}: {', '.join(checks)}"
    return headline + "\n  " + "\n  ".join(lines)
