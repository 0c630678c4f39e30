"""Run params: parsed and refused before a task touches anything.

A bad param raises `ParamError` saying what to type instead; the task turns it into `ParamsRefused`
(see `refused`), which fails the run without retries and without paging anyone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import date, datetime
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
