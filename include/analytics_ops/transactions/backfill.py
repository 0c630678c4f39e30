"""Which hours an analytics_txn_backfill run rebuilds (runbook 004 *Backfill Historical Data*).

`from` and `to` are UTC days, both included, validated as the daily aggregation's are (unknown keys,
bad or reversed days, a day not over yet, a span over `transactions.max_backfill_days`, a start
before `transactions.earliest_day`): refused before anything is touched.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from analytics_ops.core.config import TransactionSettings
from analytics_ops.core.params import ParamError, day_span
from analytics_ops.transactions.hours import HourRange


def backfill_hours(from_param: object, to_param: object, settings: TransactionSettings, now: datetime) -> HourRange:
    if from_param is None and to_param is None:
        raise ParamError("give from (and to) as YYYY-MM-DD: the UTC days whose hourly aggregates are rebuilt")
    start, end = day_span(
        ("from", "to"),
        (from_param, to_param),
        section="transactions",
        max_days=settings.max_backfill_days,
        earliest_day=settings.earliest_day,
        now=now,
        verb="rebuilt",
    )
    return HourRange(
        datetime.combine(start, time(), tzinfo=UTC), datetime.combine(end + timedelta(days=1), time(), tzinfo=UTC)
    )
