"""The checks only the continuous evaluator runs, in the one check framework (`health.framework`).

- `dag_failing`: each suite DAG whose newest runs failed (`ops.dag_run_outcomes`, written by the
  failure callbacks), with the seconds since the streak's first failure: escalation by elapsed time,
  not by a count of runs (a daily DAG's "two failed runs" is two days).
- `alert_rule_failures`: evaluations of product rules that failed in the last hour (runbook 004:
  "alert rule failures over 10 an hour").
- `txn_drift`: rows of txn_hourly_agg the newest reconciliation found wrong and did not repair.
- `txn_anomalies`: each merchant the newest anomaly scan (analytics_txn_anomalies) judged anomalous.
- `txn_aggregation_lag`: seconds the oldest transaction not yet aggregated has waited (runbook 004).
- `usage_error_rate`, `usage_error_rate_rise`, `usage_latency_p95`, `usage_latency_p99`,
  `usage_latency_rise`: runbook 003's alert thresholds, per organisation and model, from the last 20
  minutes of `usage_events` (one result per organisation and model with enough events to judge).
"""

from __future__ import annotations

from datetime import UTC

from analytics_ops.health.framework import CRITICAL, OK, WARN, Check, CheckContext, CheckResult, human_duration


def dag_failing(ctx: CheckContext) -> list[CheckResult]:
    from analytics_ops.core.db import sql_file

    with ctx.primary() as conn:
        rows = conn.execute(sql_file("alerting/dag_failing"), {"now": ctx.checked_at}).fetchall()
    return [
        CheckResult(
            f"dag_failing:{dag_id}",
            CRITICAL,
            f"failing for {human_duration(seconds)} ({runs} failed run(s) in a row)",
            "no failed run since its last success",
            round(seconds, 1),
            f"first failure of the streak recorded {since.isoformat(timespec='seconds')}",
        )
        for dag_id, since, runs, seconds in rows
    ]


def alert_rule_failures(ctx: CheckContext) -> list[CheckResult]:
    from analytics_ops.core.db import sql_file

    with ctx.primary() as conn:
        rows = conn.execute(sql_file("alerting/rule_failures"), {"now": ctx.checked_at}).fetchall()
    total = sum(failures for _, failures, _ in rows)
    detail = "; ".join(f"{name}: {failures}x, newest: {error}" for name, failures, error in rows[:5])
    return [
        CheckResult(
            "alert_rule_failures",
            CRITICAL if total > 10 else (WARN if total else OK),
            f"{total} failed evaluation(s) of {len(rows)} rule(s) in the last hour",
            "runbook 004: over 10 an hour",
            float(total),
            detail,
        )
    ]


def txn_drift(ctx: CheckContext) -> list[CheckResult]:
    """Rows of txn_hourly_agg the newest reconciliation (of the last 3 hours) found differing from
    wallet_transactions and did not repair (runbook 004 Incorrect Aggregate Values)."""
    from analytics_ops.core.db import sql_file

    with ctx.primary() as conn:
        exists = conn.execute("SELECT to_regclass('ops.txn_reconciliations') IS NOT NULL").fetchone()[0]
        rows = conn.execute(sql_file("alerting/txn_drift"), {"now": ctx.checked_at, "max_age": "3 hours"}).fetchall()
    if not exists or not rows:
        return [CheckResult("txn_drift", OK, "no reconciliation in the last 3 hours", "no unrepaired drift", None)]
    start, end, drifted, repaired = rows[0][:4]
    left = 0 if repaired else drifted
    detail = "; ".join(
        f"{hour.astimezone(UTC):%Y-%m-%d %H:00} merchant {merchant} {currency}: "
        f"{count:+d} tx, {amount:+} written vs transactions"
        for _, _, _, _, hour, merchant, currency, count, amount in rows
        if hour is not None
    )
    shown = f"{start.astimezone(UTC):%Y-%m-%d %H:00}..{end.astimezone(UTC):%H:00} UTC"
    return [
        CheckResult(
            "txn_drift",
            CRITICAL if left else OK,
            f"{drifted} row(s) differ in {shown}" + (", repaired" if repaired else ""),
            "no unrepaired drift",
            float(left),
            detail,
        )
    ]


def txn_anomalies(ctx: CheckContext) -> list[CheckResult]:
    """One critical result per merchant the newest scan of the last 2 hours found anomalous (runbook 004 SIRA):
    the alert of each fires once and resolves when a newer scan no longer has it."""
    from analytics_ops.core.db import sql_file

    with ctx.primary() as conn:
        rows = conn.execute(
            sql_file("alerting/txn_anomalies"), {"now": ctx.checked_at, "max_age": "2 hours"}
        ).fetchall()
    if not rows:
        return [CheckResult("txn_anomalies", OK, "no anomaly scan in the last 2 hours", "no anomaly", None)]
    hour, history, scored = rows[0][:3]
    shown = f"{hour.astimezone(UTC):%Y-%m-%d %H:00} UTC"
    results = [
        CheckResult(
            f"txn_anomalies:merchant {merchant}",
            CRITICAL,
            f"merchant {merchant}: {count} transaction(s) in {shown}, z = {z:+.1f}",
            f"|z| under the scan's threshold against the trailing {history} h",
            round(z, 2),
            f"mean {mean:.1f} a hour, standard deviation {stddev:.1f}, over the {history} h before; "
            f"{scored} merchant(s) scored",
        )
        for _, _, _, merchant, count, mean, stddev, z in rows
        if merchant is not None
    ]
    return results or [CheckResult("txn_anomalies", OK, f"no anomaly in {shown} ({scored} merchant(s))", "no anomaly",
                                   0.0)]  # fmt: skip


def txn_aggregation_lag(ctx: CheckContext) -> list[CheckResult]:
    """Runbook 004 key metric "Aggregation lag > 5 minutes": how long the oldest wallet transaction created after
    the consumer's newest write to txn_hourly_agg has waited."""
    from analytics_ops.core.db import sql_file

    with ctx.primary() as conn:
        lag, last_write, waiting = conn.execute(
            sql_file("alerting/txn_aggregation_lag"), {"now": ctx.checked_at}
        ).fetchone()
    written = "never" if last_write is None else last_write.astimezone(UTC).isoformat(timespec="seconds")
    return [
        CheckResult(
            "txn_aggregation_lag",
            CRITICAL if lag > 300 else OK,
            f"{human_duration(lag)} behind ({waiting} transaction(s) waiting)" if waiting else "nothing waits",
            "runbook 004: under 5 minutes",
            round(lag, 1),
            f"newest write to txn_hourly_agg: {written}",
        )
    ]


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


ALERTING_CHECKS: tuple[Check, ...] = (
    Check("check_dag_failing", "dag_failing", dag_failing,
          "the DAG's failure alert has the error and the runbook entry: fix the cause, clear the task"),
    Check("check_alert_rule_failures", "alert_rule_failures", alert_rule_failures,
          "runbook 004 Alerts Not Firing: fix or deactivate the rules named"),
    Check("check_txn_drift", "txn_drift", txn_drift,
          "runbook 004 Incorrect Aggregate Values: duplicate event processing? trigger analytics_txn_backfill"),
    Check("check_txn_anomalies", "txn_anomalies", txn_anomalies,
          "runbook 004 SIRA: a spike (promotion, duplicate processing) or a drop (integration or consumer down)?"),
    Check("check_txn_aggregation_lag", "txn_aggregation_lag", txn_aggregation_lag,
          "runbook 004 Consumer Lag Increasing: check the consumer's health and lag, scale consumers"),
    Check("check_usage_error_rate", "usage_error_rate", usage_error_rate,
          "runbook 003 High Error Rate Alert: error codes by model; analytics_incident_export for the window"),
    Check("check_usage_error_rate_rise", "usage_error_rate_rise", usage_error_rate_rise,
          "runbook 003 Error Rate Spike Alert: upstream incident? analytics_incident_export for the window"),
    Check("check_usage_latency_p95", "usage_latency_p95", usage_latency_p95,
          "runbook 003 High Latency Alert: slow queries, connection pool, cache hit rate"),
    Check("check_usage_latency_p99", "usage_latency_p99", usage_latency_p99,
          "runbook 003 High Latency Alert: slow queries, connection pool, cache hit rate"),
    Check("check_usage_latency_rise", "usage_latency_rise", usage_latency_rise,
          "runbook 003 Latency Spike Alert: what changed in the last 15 minutes (deploys, load, locks)"),
)  # fmt: skip
