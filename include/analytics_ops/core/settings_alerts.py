"""Config of the continuous alert evaluator (analytics_alert_evaluator): its rules, timing and silences.

A rule watches one check of the suite's check framework (the health check's checks, plus
`dag_failing` and `alert_rule_failures`): its grade (`when`) or its number (`above` / `below`).
Which check names exist is the library's to say, so the evaluator validates `check` when the DAG is
parsed (`alerting.rules.validate_rules`); the shape of each key is checked here.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, model_validator

from analytics_ops.core.config_types import Duration, Severity, _parse_duration, _Strict

_NAME = r"^[a-z][a-z0-9_]*$"


def _number_or_duration(value: object) -> object:
    # A threshold on a check measured in seconds reads best as a duration ("30m"): stored as seconds.
    if isinstance(value, str):
        parsed = _parse_duration(value)
        return parsed.total_seconds() if isinstance(parsed, timedelta) else parsed
    return value


Threshold = Annotated[float, BeforeValidator(_number_or_duration)]


class AlertRule(_Strict):
    """One continuous rule: a check, the condition on its results, how long it must hold, how loud it is."""

    name: str = Field(pattern=_NAME)
    """The alert's name, in messages and on the Ops page (lowercase, digits and `_`)."""
    check: str
    """The check measured, by its name: a check of analytics_health_check (`postgres_reachable`, `replica_lag`,
    `freshness_lag`, ...), or `dag_failing` (each suite DAG whose newest runs failed: seconds since the first failure
    of the streak) or `alert_rule_failures` (product rules that could not be evaluated in the last hour)."""
    when: Literal["warn", "critical", "unmeasurable"] | None = None
    """Condition on the check's grade: at least `warn`, `critical`, or `unmeasurable` (the check could not measure:
    the server did not answer). Exactly one of when, above, below."""
    above: Threshold | None = None
    """Condition on the check's number (its unit: seconds, rows, percent; a duration like 30m is read as seconds):
    over this. A result without a number (could not measure) is unknown: the alert keeps its state."""
    below: Threshold | None = None
    """Condition on the check's number: under this."""
    items: list[str] = Field(default_factory=list)
    """Only these items of a check that measures several (the part of a result's name after `:`, e.g.
    `public.mv_txn_daily_agg` of `mv_refresh`); empty: every item."""
    pending_for: Duration = timedelta(0)
    """The condition must hold this long before the alert fires (Prometheus' `for`); until then it is pending and
    nothing is sent."""
    severity: Severity | Literal["dag+1"]
    """P0-P3: the route and mention of its notifications. `dag+1` (rules on `dag_failing` only): one above the failing
    DAG's own severity."""
    escalate_after: Duration | Literal["never"] | None = None
    """Firing this long without resolving: sent again one severity up (the on-call route). Default
    `alerting.escalate_after`; `never` for no escalation."""
    summary: str = Field(min_length=1)
    """What the alert means, one line: the head of its message."""
    advice: str = Field(min_length=1)
    """What the on-call does: the end of its message."""

    @model_validator(mode="after")
    def _one_condition(self) -> AlertRule:
        given = [key for key in ("when", "above", "below") if getattr(self, key) is not None]
        if len(given) != 1:
            raise ValueError(f"rule {self.name}: give exactly one of when, above, below (got {given or 'none'})")
        if self.severity == "dag+1" and self.check != "dag_failing":
            raise ValueError(f"rule {self.name}: severity dag+1 is only for rules on the dag_failing check")
        return self


class Silence(_Strict):
    """A maintenance window: alerts it matches are still evaluated and stored, but send nothing until it ends."""

    name: str = Field(min_length=1)
    """Shown on the Ops page beside each alert it mutes."""
    rule: str = Field(min_length=1)
    """The rule it mutes: a name, or a prefix ending in `*` (`*` alone: every rule)."""
    labels: dict[str, str] = Field(default_factory=dict)
    """Only alerts with these labels (e.g. `{item: analytics_daily_aggregation}` of `dag_still_failing`); empty: all."""
    starts_at: datetime | None = None
    """Start of the window (ISO 8601 with a time zone); none: already started."""
    ends_at: datetime
    """End of the window (ISO 8601 with a time zone). An alert still firing then is sent."""

    @model_validator(mode="after")
    def _aware_and_ordered(self) -> Silence:
        for key in ("starts_at", "ends_at"):
            value = getattr(self, key)
            if value is not None and value.tzinfo is None:
                raise ValueError(f"silence {self.name}: {key} needs a time zone, e.g. 2026-12-06T02:00:00+00:00")
        if self.starts_at and self.starts_at >= self.ends_at:
            raise ValueError(f"silence {self.name}: ends_at must come after starts_at")
        return self

    def mutes(self, rule: str, labels: dict[str, str], now: datetime) -> bool:
        if (self.starts_at and now < self.starts_at) or now >= self.ends_at:
            return False
        if self.rule.endswith("*"):
            if not rule.startswith(self.rule[:-1]):
                return False
        elif rule != self.rule:
            return False
        return all(labels.get(key) == value for key, value in self.labels.items())


class EvaluatorSettings(_Strict):
    statement_timeout: Duration = timedelta(seconds=10)
    """Cap on each query of an evaluation (one run must fit in the minute)."""
    connect_timeout: Duration = timedelta(seconds=5)
    """A server that does not accept a connection within this is unreachable (once per run: the other checks of that
    server are then unmeasurable at once)."""
    run_timeout: Duration = timedelta(seconds=50)
    """The evaluation task is stopped after this, so a stuck run never delays the next minute's."""
    product_rules: bool = True
    """Also evaluate the active rules of `analytics_alert_rules` (runbook 004's product alert rules)."""


def valid_connection_id(value: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z0-9_.-]{1,250}", value))
