"""The ops rules of the config (`alerting.rules`), applied to the checks of the one check framework.

A rule names a check (any check of `analytics_health_check`, or one of `alerting.checks`); the
evaluator measures each named check once per run and turns each of its results into an
observation: active, inactive or unknown. The result's item (the part of its name after `:`, e.g.
the replica or the view) becomes the alert's `item` label, so one rule keeps one alert per replica.
"""

from __future__ import annotations

from datetime import timedelta

from analytics_ops.alerting.state import Observation, RuleVerdict, Timing
from analytics_ops.core.config import SuiteConfig
from analytics_ops.core.settings_alerts import AlertRule
from analytics_ops.health.framework import (
    OK,
    STATUS_RANK,
    UNMEASURED,
    Check,
    CheckContext,
    CheckResult,
    evaluate,
    human_timedelta,
)


def known_checks() -> dict[str, Check]:
    from analytics_ops.alerting.checks import ALERTING_CHECKS
    from analytics_ops.health.daily import DAILY_CHECKS

    return {check.name: check for check in (*DAILY_CHECKS, *ALERTING_CHECKS)}


def validate_rules(config: SuiteConfig) -> None:
    """Every rule names a check that exists (the rest of a rule's shape is checked with the config)."""
    checks = known_checks()
    unknown = [f"{rule.name} (check {rule.check!r})" for rule in config.alerting.rules if rule.check not in checks]
    if unknown:
        raise ValueError(f"alerting.rules: unknown check in {', '.join(unknown)}; known checks: {', '.join(checks)}")


def timing_of(rule: AlertRule, config: SuiteConfig) -> Timing:
    alerting = config.alerting
    escalate: timedelta | None = alerting.escalate_after
    if rule.escalate_after == "never":
        escalate = None
    elif rule.escalate_after is not None:
        escalate = rule.escalate_after
    return Timing(
        pending_for=rule.pending_for,
        keep_firing_for=alerting.keep_firing_for,
        escalate_after=escalate,
        repeat_interval=alerting.repeat_interval,
    )


def _item(check: Check, result: CheckResult) -> str | None:
    return result.check_name[len(check.name) + 1 :] if result.check_name != check.name else None


def condition(rule: AlertRule, result: CheckResult) -> bool | None:
    """Whether the rule's condition holds on this result; None: unknown (it could not be measured)."""
    unmeasured = result.value == UNMEASURED
    if rule.when == "unmeasurable":
        return unmeasured
    if unmeasured:
        return None
    if rule.when is not None:
        return STATUS_RANK[result.status] >= STATUS_RANK[rule.when]
    if result.numeric_value is None:
        return False if result.status == OK else None  # e.g. "lag unknown": not judged either way
    if rule.above is not None:
        return result.numeric_value > rule.above
    return result.numeric_value < rule.below


def condition_text(rule: AlertRule) -> str:
    if rule.when == "unmeasurable":
        text = f"{rule.check} does not answer"
    elif rule.when is not None:
        text = f"{rule.check} graded {rule.when} or worse"
    elif rule.above is not None:
        text = f"{rule.check} over {rule.above:g}"
    else:
        text = f"{rule.check} under {rule.below:g}"
    if rule.pending_for:
        text += f" for {human_timedelta(rule.pending_for)}"
    return text


def rule_verdict(rule: AlertRule, check: Check, results: list[CheckResult], config: SuiteConfig) -> RuleVerdict:
    timing = timing_of(rule, config)
    observations = []
    for result in results:
        item = _item(check, result)
        if rule.items and item not in rule.items:
            continue
        severity = rule.severity
        if severity == "dag+1":
            from analytics_ops.core.config_types import escalate

            severity = escalate(config.severity(item or ""))
        observations.append(
            Observation(
                rule=rule.name,
                labels={"item": item} if item else {},
                active=condition(rule, result),
                severity=severity,
                value=result.value,
                number=result.numeric_value,
                threshold=condition_text(rule),
                summary=rule.summary,
                advice=rule.advice,
                timing=timing,
                detail=result.detail,
            )
        )
    # One unmeasurable result (the check raised) says nothing of the items it would have listed.
    measured = not (len(results) == 1 and results[0].value == UNMEASURED and rule.when != "unmeasurable")
    return RuleVerdict(rule.name, measured, tuple(observations), timing)


def ops_verdicts(ctx: CheckContext, config: SuiteConfig) -> list[RuleVerdict]:
    """Each ops rule's verdict; each check is measured once however many rules read it."""
    checks = known_checks()
    results: dict[str, list[CheckResult]] = {}
    verdicts = []
    for rule in config.alerting.rules:
        check = checks[rule.check]
        if check.name not in results:
            results[check.name] = evaluate(check, ctx, quiet=True)
        verdicts.append(rule_verdict(rule, check, results[check.name], config))
    return verdicts
