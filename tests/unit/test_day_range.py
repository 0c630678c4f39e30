"""Which days a run aggregates, and which params are refused (pure logic, no services)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from analytics_ops.aggregation.daily import DayRange, resolve_day_range, split_into_chunks
from analytics_ops.core.params import ParamError

NOW = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)


EARLIEST = date(2020, 1, 1)


def resolve(start, end, run_date=NOW, max_days=366, earliest_day=EARLIEST):
    return resolve_day_range(start, end, run_date=run_date, max_days=max_days, earliest_day=earliest_day, now=NOW)


@pytest.mark.parametrize(
    ("run_date", "day"),
    [
        (datetime(2026, 1, 16, 1, 0, tzinfo=UTC), date(2026, 1, 15)),  # the scheduled 01:00 run
        (datetime(2026, 1, 16, 0, 0, tzinfo=UTC), date(2026, 1, 15)),  # a run exactly at midnight
        (datetime(2026, 1, 16, 23, 59, 59, tzinfo=UTC), date(2026, 1, 15)),  # a manual run late in the day
        (datetime.fromisoformat("2026-01-16T03:00:00+05:00"), date(2026, 1, 14)),  # 22:00 UTC on the 15th
        (datetime(2026, 3, 1, 1, 0, tzinfo=UTC), date(2026, 2, 28)),  # month boundary
    ],
)
def test_default_is_the_utc_day_before_the_run(run_date, day):
    assert resolve(None, None, run_date=run_date) == DayRange(day, day)
    assert resolve("", "  ", run_date=run_date) == DayRange(day, day)


def test_a_range_and_a_single_day():
    assert resolve("2026-01-01", "2026-01-31") == DayRange(date(2026, 1, 1), date(2026, 1, 31))
    assert resolve("2026-01-05", None) == DayRange(date(2026, 1, 5), date(2026, 1, 5))
    assert resolve("2026-03-09", "2026-03-09").days == 1  # yesterday is over: allowed


def test_the_longest_allowed_span_passes():
    assert resolve("2025-03-09", "2026-03-09", max_days=366).days == 366


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("2026/01/01", None, "start_date: '2026/01/01' is not a date in the form YYYY-MM-DD"),
        ("2026-1-5", None, "is not a date in the form YYYY-MM-DD"),
        ("2026-02-30", None, "start_date: '2026-02-30' is not a real calendar day"),
        ("2026-01-01", "2026-13-01", "end_date: '2026-13-01' is not a real calendar day"),
        ("yesterday", None, "start_date: 'yesterday' is not a date"),
        ("2026-01-01'; DROP TABLE tasks; --", None, "is not a date in the form YYYY-MM-DD"),
        (20260101, None, "start_date: 20260101 is not a date"),
        (["2026-01-01"], None, "is not a date"),
        (None, "2026-01-01", "end_date is set but start_date is not"),
        ("2026-01-10", "2026-01-09", "end_date 2026-01-09 is before start_date 2026-01-10"),
        ("2026-03-10", None, "end_date 2026-03-10 is in the future or not over yet"),
        ("2026-03-01", "2027-01-01", "the newest day that can be aggregated is 2026-03-09"),
        ("2025-03-08", "2026-03-09", "spans 367 days, more than aggregation.max_backfill_days (366)"),
        ("0001-01-01", None, "0001-01-01 starts before aggregation.earliest_day (2020-01-01)"),
        ("2019-12-31", "2020-01-05", "2019-12-31..2020-01-05 starts before aggregation.earliest_day"),
    ],
)
def test_bad_params_are_refused_with_a_clear_message(start, end, message):
    with pytest.raises(ParamError) as raised:
        resolve(start, end)
    assert message in str(raised.value)


def test_the_earliest_day_itself_is_allowed_and_a_scheduled_run_before_it_is_refused():
    assert resolve("2020-01-01", "2020-01-31").start == EARLIEST
    assert resolve(None, None, run_date=datetime(2020, 1, 2, 1, 0, tzinfo=UTC)) == DayRange(EARLIEST, EARLIEST)
    with pytest.raises(ParamError, match="2019-12-31 starts before aggregation.earliest_day"):
        resolve(None, None, run_date=datetime(2020, 1, 1, 1, 0, tzinfo=UTC))


def test_chunks_cover_the_range_exactly_once():
    whole = DayRange(date(2025, 1, 1), date(2025, 12, 31))
    chunks = split_into_chunks(whole, 31)
    assert len(chunks) == 12
    assert chunks[0] == DayRange(date(2025, 1, 1), date(2025, 1, 31))
    assert chunks[-1].end == whole.end
    assert sum(c.days for c in chunks) == whole.days
    assert all(a.end.toordinal() + 1 == b.start.toordinal() for a, b in zip(chunks, chunks[1:], strict=False))
    assert split_into_chunks(DayRange(date(2025, 1, 1), date(2025, 1, 1)), 31) == [
        DayRange(date(2025, 1, 1), date(2025, 1, 1))
    ]


def test_params_round_trip_through_xcom_form():
    r = DayRange(date(2025, 1, 1), date(2025, 2, 3))
    assert DayRange.from_params(r.as_params()) == r
