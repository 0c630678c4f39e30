"""The checks only the continuous evaluator runs, in the one check framework (`health.framework`).

- `dag_failing`: each suite DAG whose newest runs failed (`ops.dag_run_outcomes`, written by the
  failure callbacks), with the seconds since the streak's first failure: escalation by elapsed time,
  not by a count of runs (a daily DAG's "two failed runs" is two days).
- `alert_rule_failures`: evaluations of product rules that failed in the last hour (runbook 004:
  "alert rule failures over 10 an hour").
- `txn_drift`: rows of txn_hourly_agg the newest reconciliation found wrong and did not repair.
- `txn_anomalies`: each merchant the newest anomaly scan (analytics_txn_anomalies) judged anomalous.
- `txn_aggregation_lag`: seconds the oldest transaction not yet aggregated has waited (runbook 004).
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
)  # fmt: skip
