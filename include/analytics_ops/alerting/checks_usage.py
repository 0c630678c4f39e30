"""Runbook 003's error-rate and latency thresholds as checks of the continuous evaluator.

`usage_error_rate`, `usage_error_rate_rise`, `usage_latency_p95`, `usage_latency_p99`,
`usage_latency_rise`: per organisation and model, from the last 20 minutes of `usage_events` (one
query, `sql/alerting/usage_windows.sql`; one result per organisation and model with enough events to
judge). The evaluator's rules (`usage_error_rate_high`, ...) hold the thresholds; the grade here is
the runbook's, for the Ops page.
"""

from __future__ import annotations

from analytics_ops.health.framework import CRITICAL, OK, CheckContext, CheckResult

# Under this many events in a window, a rate or a percentile says nothing (3 errors of 10 requests is
# not an error rate of 30 %): the organisation and model is not judged in that window.
USAGE_MIN_EVENTS = 20
# A rise is measured against a floor: from no error at all, the first few errors are not "3x".
USAGE_ERROR_RATE_FLOOR = 1.0  # percent


def _usage_windows(ctx: CheckContext) -> list[dict]:
    from analytics_ops.core.db import sql_file

    with ctx.primary() as conn:
        exists = conn.execute("SELECT to_regclass('usage_events') IS NOT NULL").fetchone()[0]
        if not exists:
            return []
        cur = conn.execute(sql_file("alerting/usage_windows"), {"now": ctx.checked_at})
        names = [c.name for c in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def _usage_results(ctx: CheckContext, name: str, measure, limit: float, threshold: str) -> list[CheckResult]:
    """One result per organisation and model `measure(window)` judges (value, text, detail), critical over `limit`."""
    results = []
    for window in _usage_windows(ctx):
        measured = measure(window)
        if measured is None:
            continue
        value, text, detail = measured
        results.append(
            CheckResult(
                f"{name}:{window['org_id']}/{window['model_id']}",
                CRITICAL if value > limit else OK,
                text,
                threshold,
                round(value, 2),
                detail,
            )
        )
    return results or [CheckResult(name, OK, "no organisation and model with enough events to judge", threshold, None)]


def _rate(errors: int, events: int) -> float:
    return 100.0 * errors / events


def usage_error_rate(ctx: CheckContext) -> list[CheckResult]:
    """Runbook 003 "Error Rate: > 5% for 5 minutes": errors (error, timeout) among the last 5 minutes' events."""

    def measure(w: dict):
        if w["recent_events"] < USAGE_MIN_EVENTS:
            return None
        rate = _rate(w["recent_errors"], w["recent_events"])
        return rate, f"{rate:.1f} % errors in the last 5 min", f"{w['recent_errors']} of {w['recent_events']} events"

    return _usage_results(ctx, "usage_error_rate", measure, 5.0, "runbook 003: at most 5 % over 5 minutes")


def usage_error_rate_rise(ctx: CheckContext) -> list[CheckResult]:
    """Runbook 003 "Error Rate Spike: 3x increase in 15 minutes": the last 5 minutes' error rate against the 15
    minutes before them (at least USAGE_ERROR_RATE_FLOOR %)."""

    def measure(w: dict):
        if w["recent_events"] < USAGE_MIN_EVENTS or w["before_events"] < USAGE_MIN_EVENTS:
            return None
        recent, before = _rate(w["recent_errors"], w["recent_events"]), _rate(w["before_errors"], w["before_events"])
        rise = recent / max(before, USAGE_ERROR_RATE_FLOOR)
        return (
            rise,
            f"error rate {rise:.1f}x in 15 min ({before:.1f} % -> {recent:.1f} %)",
            (
                f"last 5 min: {w['recent_errors']} of {w['recent_events']}; the 15 min before: "
                f"{w['before_errors']} of {w['before_events']}"
            ),
        )

    return _usage_results(ctx, "usage_error_rate_rise", measure, 3.0, "runbook 003: under a 3x rise in 15 minutes")


def usage_latency_p95(ctx: CheckContext) -> list[CheckResult]:
    """Runbook 003 "Latency P95: > 2s for 10 minutes" (milliseconds)."""

    def measure(w: dict):
        if w["last_10_events"] < USAGE_MIN_EVENTS:
            return None
        p95 = float(w["p95_last_10"])
        return p95, f"P95 {p95:.0f} ms over the last 10 min", f"{w['last_10_events']} events"

    return _usage_results(ctx, "usage_latency_p95", measure, 2000.0, "runbook 003: P95 at most 2 s over 10 minutes")


def usage_latency_p99(ctx: CheckContext) -> list[CheckResult]:
    """Runbook 003 "Latency P99: > 5s for 5 minutes" (milliseconds)."""

    def measure(w: dict):
        if w["recent_events"] < USAGE_MIN_EVENTS:
            return None
        p99 = float(w["p99_recent"])
        return p99, f"P99 {p99:.0f} ms over the last 5 min", f"{w['recent_events']} events"

    return _usage_results(ctx, "usage_latency_p99", measure, 5000.0, "runbook 003: P99 at most 5 s over 5 minutes")


def usage_latency_rise(ctx: CheckContext) -> list[CheckResult]:
    """Runbook 003 "Latency Spike: 2x increase in 15 minutes": P95 of the last 5 minutes against the 15 before."""

    def measure(w: dict):
        if w["recent_events"] < USAGE_MIN_EVENTS or w["before_events"] < USAGE_MIN_EVENTS or not w["p95_before"]:
            return None
        recent, before = float(w["p95_recent"]), float(w["p95_before"])
        rise = recent / before
        return (
            rise,
            f"P95 {rise:.1f}x in 15 min ({before:.0f} ms -> {recent:.0f} ms)",
            (f"last 5 min: {w['recent_events']} events; the 15 min before: {w['before_events']}"),
        )

    return _usage_results(ctx, "usage_latency_rise", measure, 2.0, "runbook 003: under a 2x rise in 15 minutes")


def usage_freshness(ctx: CheckContext) -> list[CheckResult]:
    """Runbook 003 "Freshness Lag: > 10 minutes": per organisation and model (freshness_status), how long the oldest
    usage event not yet rolled up by analytics_usage_rollup has waited, in seconds."""
    from analytics_ops.health.framework import human_duration

    critical = ctx.config.health_check.data.freshness_critical_after.total_seconds()
    threshold = f"runbook 003: events rolled up within {human_duration(critical)}"
    with ctx.primary() as conn:
        if conn.execute("SELECT to_regclass('freshness_status') IS NULL").fetchone()[0]:
            missing = "freshness_status does not exist yet (migration 018)"
            return [CheckResult("usage_freshness", OK, missing, threshold)]
        from analytics_ops.core.db import sql_file

        series = conn.execute(sql_file("usage/freshness")).fetchall()
    results = [
        CheckResult(
            f"usage_freshness:{org_id}/{model_id}",
            CRITICAL if lag > critical else OK,
            f"oldest event not rolled up waited {human_duration(lag)}" if lag else "rolled up",
            threshold,
            round(lag, 1),
            status,
        )
        for org_id, model_id, lag, status in series
    ]
    return results or [CheckResult("usage_freshness", OK, "no usage events", threshold, 0.0)]
