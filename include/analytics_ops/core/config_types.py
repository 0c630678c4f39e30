"""The building blocks of the config's models: durations as operators write them, strict sections."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h|d)\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


def _parse_duration(value: object) -> object:
    # pydantic reads ISO 8601 ("PT5M") and plain seconds; operators write "5m", as in postgresql.conf.
    if isinstance(value, str) and not value.startswith("P"):  # "P..." is ISO 8601: pydantic reads it
        match = _DURATION.match(value)
        if not match:
            raise ValueError(f"{value!r} is not a duration; write a number and a unit, e.g. 30s, 5m, 2h, 7d")
        return timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2)])
    return value


Duration = Annotated[timedelta, BeforeValidator(_parse_duration)]
Severity = Literal["P0", "P1", "P2", "P3"]
SEVERITY_ORDER = ("P3", "P2", "P1", "P0")  # lowest to highest (runbook 001: P0 critical ... P3 low)


def escalate(severity: str) -> str:
    """One severity up (P0 stays P0): where an alert unresolved past `escalate_after` goes. Here in the
    core because the Ops page and the morning digest show an escalated alert's severity too."""
    index = SEVERITY_ORDER.index(severity)
    return SEVERITY_ORDER[min(index + 1, len(SEVERITY_ORDER) - 1)]


class _Strict(BaseModel):
    # A field's docstring (the string right below it) is its description: the one place a key is documented.
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)
