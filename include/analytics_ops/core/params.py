"""Run params: parsed and refused before a task touches anything.

A bad param raises `ParamError` saying what to type instead; the task turns it into `ParamsRefused`
(see `refused`), which fails the run without retries and without paging anyone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Any

_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class ParamError(ValueError):
    """A run parameter that must be corrected before the run can do anything."""


def parse_day(name: str, value: object) -> date:
    """`value` (the param `name`) as a calendar day; ParamError naming the param if it is not one."""
    if isinstance(value, datetime):
        raise ParamError(f"{name}: give a day as YYYY-MM-DD, not a timestamp ({value!r})")
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        raise ParamError(f"{name}: {value!r} is not a date; give a day as YYYY-MM-DD, e.g. 2026-01-31")
    text = value.strip()
    if not _ISO_DAY.match(text):
        raise ParamError(f"{name}: {value!r} is not a date in the form YYYY-MM-DD, e.g. 2026-01-31")
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise ParamError(f"{name}: {value!r} is not a real calendar day ({exc})") from None


def day_span(
    names: tuple[str, str],
    values: tuple[object, object],
    *,
    section: str,
    max_days: int,
    earliest_day: date,
    now: datetime,
    verb: str,
) -> tuple[date, date]:
    """The days from the params `names` (start, end; end empty: the start day), both included.

    ParamError when the start is missing, a value is not a day, the range is reversed, not over yet
    (a day is over once UTC midnight passed), longer than `<section>.max_backfill_days`, or starts
    before `<section>.earliest_day` (a typo'd year must not be logged as a run that did nothing).
    """
    from datetime import UTC, timedelta

    (start_name, end_name), (start_param, end_param) = names, values
    if blank(start_param):
        raise ParamError(f"{end_name} is set but {start_name} is not; give {start_name} too (or neither)"
                         if not blank(end_param) else f"give {start_name} (and {end_name}), as YYYY-MM-DD")  # fmt: skip
    start = parse_day(start_name, start_param)
    end = start if blank(end_param) else parse_day(end_name, end_param)
    if end < start:
        raise ParamError(f"{end_name} {end} is before {start_name} {start}")
    newest_complete_day = now.astimezone(UTC).date() - timedelta(days=1)
    if end > newest_complete_day:
        raise ParamError(
            f"{end_name} {end} is in the future or not over yet (UTC now {now:%Y-%m-%d %H:%M}); "
            f"the newest day that can be {verb} is {newest_complete_day}"
        )
    span = (end - start).days + 1
    if span > max_days:
        raise ParamError(
            f"{start}..{end} spans {span} days, more than {section}.max_backfill_days ({max_days}); "
            "split it into several runs or raise the limit in the config"
        )
    not_before(start, end, section=section, earliest_day=earliest_day)
    return start, end


def not_before(start: date, end: date, *, section: str, earliest_day: date) -> None:
    if start < earliest_day:
        shown = start.isoformat() if start == end else f"{start.isoformat()}..{end.isoformat()}"
        raise ParamError(
            f"{shown} starts before {section}.earliest_day ({earliest_day}), the oldest day the suite works on; "
            "check the year, or lower the setting if older data really exists"
        )


def unknown_keys(conf: Mapping[str, Any] | None, *, declared: Iterable[str]) -> None:
    """ParamError naming every key of a run's `conf` that is not one of the DAG's `declared` params."""
    known = sorted(declared)
    unknown = sorted(set(conf or {}) - set(known))
    if unknown:
        accepted = ", ".join(known) if known else "none: this DAG takes no params"
        raise ParamError(
            f"unknown key(s) in the run's conf: {', '.join(map(repr, unknown))}; this DAG accepts: {accepted}"
        )


def blank(value: object) -> bool:
    """A param left empty in the trigger form: None or whitespace."""
    return value is None or (isinstance(value, str) and not value.strip())


@contextmanager
def refused(what: str) -> Iterator[None]:
    """Turn a ParamError raised inside the block into ParamsRefused: "bad parameter, nothing was <what>"."""
    from analytics_ops.core.errors import ParamsRefused

    try:
        yield
    except ParamError as exc:
        raise ParamsRefused(f"bad parameter, nothing was {what}: {exc}") from None


def parse_instant(name: str, value: object) -> datetime:
    """`value` (the param `name`) as an ISO 8601 time with its time zone, in UTC; ParamError naming the param if not."""
    example = "e.g. 2026-11-30T14:00:00Z"
    if blank(value):
        raise ParamError(f"{name}: give a time with its time zone, {example}")
    if not isinstance(value, str):
        raise ParamError(f"{name}: {value!r} is not a time; give one with its time zone, {example}")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ParamError(f"{name}: {value!r} is not an ISO 8601 time; {example}") from None
    if parsed.tzinfo is None:
        raise ParamError(f"{name}: {value!r} has no time zone; add Z for UTC or an offset, {example}")
    return parsed.astimezone(UTC)
