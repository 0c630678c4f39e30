"""Runbook 004's product alert rules (`analytics_alert_rules`): validated, measured, turned into verdicts.

Each active row: a metric of `txn_hourly_agg` summed over its last `window_minutes`, of one merchant
or all, compared with its threshold; its severity and, optionally, its own webhook connection. Rows
are written by the product (the runbook's API), not by us, so each is validated here: a row that
cannot be evaluated (unknown metric or comparator, a window out of range, a bad connection id, a
query that fails) is recorded in `ops.alert_rule_failures` and its alert is left as it was; the
`alert_rules_failing` ops rule alerts when those pass 10 an hour.
"""

from __future__ import annotations

import logging
import operator
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from analytics_ops.alerting.state import Observation, RuleVerdict, Timing
from analytics_ops.core.settings_alerts import valid_connection_id

log = logging.getLogger(__name__)

PREFIX = "product:"  # alert rule names of product rules, so `product:*` silences all of them
# Runbook 004's names for the aggregates' measures (its queries read tx_count, gross_volume_local).
METRICS = ("tx_count", "gross_volume_local")
COMPARATORS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}
MAX_WINDOW_MINUTES = 7 * 24 * 60
SEVERITIES = ("P0", "P1", "P2", "P3")


@dataclass(frozen=True)
class ProductRule:
    id: int
    name: str
    metric: str
    window_minutes: int
    comparator: str
    threshold: float
    severity: str
    merchant_id: int | None
    notify_connection: str | None

    def problem(self) -> str | None:
        """Why this row cannot be evaluated, or None."""
        if self.metric not in METRICS:
            return f"unknown metric {self.metric!r} (known: {', '.join(METRICS)})"
        if self.comparator not in COMPARATORS:
            return f"unknown comparator {self.comparator!r} (known: {' '.join(COMPARATORS)})"
        if not 1 <= self.window_minutes <= MAX_WINDOW_MINUTES:
            return f"window_minutes {self.window_minutes} is outside 1-{MAX_WINDOW_MINUTES}"
        if self.severity not in SEVERITIES:
            return f"unknown severity {self.severity!r} (known: {', '.join(SEVERITIES)})"
        if self.notify_connection is not None and not valid_connection_id(self.notify_connection):
            return f"notify_connection {self.notify_connection!r} is not an Airflow connection id"
        return None

    @property
    def alert_name(self) -> str:
        return PREFIX + self.name


@dataclass(frozen=True)
class RuleFailure:
    rule_id: int | None
    rule_name: str
    error: str


def _observation(rule: ProductRule, values: dict[str, float], hours: int, timing: Timing) -> Observation:
    value = values[rule.metric]
    scope = f"merchant {rule.merchant_id}" if rule.merchant_id is not None else "all merchants"
    return Observation(
        rule=rule.alert_name,
        labels={"rule_id": str(rule.id)},
        active=COMPARATORS[rule.comparator](value, rule.threshold),
        severity=rule.severity,
        value=f"{rule.metric} = {value:g} over the last {rule.window_minutes} min ({scope}, {hours} hourly row(s))",
        number=value,
        threshold=f"{rule.comparator} {rule.threshold:g}",
        summary=f"product rule {rule.name}: {rule.metric} {rule.comparator} {rule.threshold:g} "
        f"over {rule.window_minutes} min ({scope})",
        advice=(
            "runbook 004: compare with txn_hourly_agg for the window; a rule that no longer makes sense: "
            f"set is_active = false on analytics_alert_rules row {rule.id}"
        ),
        timing=timing,
        connection=rule.notify_connection,
    )


def product_verdicts(conn: Any, now: datetime, timing: Timing) -> tuple[list[RuleVerdict], list[RuleFailure]]:
    """Every active product rule's verdict, and the rules that could not be evaluated."""
    from analytics_ops.core.db import sql_file
    from analytics_ops.core.errors import error_first_line

    rules = [ProductRule(*row) for row in conn.execute(sql_file("alerting/product_rules")).fetchall()]
    failures = [RuleFailure(r.id, r.name, problem) for r in rules if (problem := r.problem()) is not None]
    broken = {f.rule_id for f in failures}
    valid = [r for r in rules if r.id not in broken]
    measured: dict[int, tuple[dict[str, float], int]] = {}
    if valid:
        try:
            with conn.transaction():
                rows = conn.execute(
                    sql_file("alerting/product_rule_values"),
                    {
                        "now": now,
                        "ids": [r.id for r in valid],
                        "windows": [r.window_minutes for r in valid],
                        "merchants": [r.merchant_id for r in valid],
                    },
                ).fetchall()
            measured = {rid: ({"tx_count": tx, "gross_volume_local": gross}, hours) for rid, tx, gross, hours in rows}
        except Exception as exc:  # every rule of the statement failed: each is counted, none is lost
            log.warning("product rules could not be measured: %s", error_first_line(exc))
            failures += [RuleFailure(r.id, r.name, error_first_line(exc)) for r in valid]
    verdicts = []
    for rule in rules:
        if rule.id in measured:
            values, hours = measured[rule.id]
            obs = _observation(rule, values, hours, timing)
            verdicts.append(RuleVerdict(rule.alert_name, True, (obs,), timing))
        else:
            verdicts.append(RuleVerdict(rule.alert_name, False, (), timing))
    return verdicts, failures
