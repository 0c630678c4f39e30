"""The task bodies of `analytics_daily_aggregation`, one function per task."""

from __future__ import annotations

from typing import Any

from analytics_ops.core import tasks
from analytics_ops.core.config import load_config


def resolve_days() -> list[dict[str, str]]:
    """Which UTC days this run writes; refuses bad params before anything is touched."""
    from analytics_ops.aggregation.daily import resolve_day_range, split_into_chunks
    from analytics_ops.core.params import refused

    params, settings = tasks.params(), load_config().aggregation
    with refused("written"):
        window = resolve_day_range(
            params.get("start_date"),
            params.get("end_date"),
            run_date=tasks.run_date(),
            max_days=settings.max_backfill_days,
            earliest_day=settings.earliest_day,
        )
    chunks = split_into_chunks(window, settings.chunk_days)
    print(f"aggregating {window} ({window.days} days) in {len(chunks)} chunk(s)")
    return [c.as_params() for c in chunks]


def aggregate_chunk(chunk: dict[str, str]) -> dict[str, Any]:
    """Rewrite one chunk of days in one transaction."""
    from analytics_ops.aggregation.daily import DayRange, aggregate_days

    day_range = DayRange.from_params(chunk)
    result = tasks.run_recorded(
        lambda conn: aggregate_days(conn, day_range, load_config().aggregation),
        subject=str(day_range),
        details=lambda r: {"rows_deleted": r.rows_deleted, "rows_written": r.rows_written},
    )
    print(f"{day_range}: replaced {result.rows_deleted} rows with {result.rows_written}")
    return {"days": str(day_range), "rows_written": result.rows_written}


def check_quality(chunks: list[dict[str, str]]) -> None:
    """Runbook 001's morning checks on what was just written; fails loudly with the day and check."""
    from airflow.sdk.exceptions import AirflowFailException

    from analytics_ops.aggregation.daily import DayRange, describe_violations, quality_violations

    ranges = [DayRange.from_params(chunk) for chunk in chunks]
    day_range = DayRange(min(r.start for r in ranges), max(r.end for r in ranges))
    with tasks.task_session() as conn:
        violations = quality_violations(conn, day_range)
    if violations:
        raise AirflowFailException(describe_violations(violations))
    print(f"{day_range}: all data-quality checks passed")
