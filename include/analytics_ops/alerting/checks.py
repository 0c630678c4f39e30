"""The checks only the continuous evaluator runs, in the one check framework (`health.framework`).

- `dag_failing`: each suite DAG whose newest runs failed (`ops.dag_run_outcomes`, written by the
  failure callbacks), with the seconds since the streak's first failure: escalation by elapsed time,
  not by a count of runs (a daily DAG's "two failed runs" is two days).
- `alert_rule_failures`: evaluations of product rules that failed in the last hour (runbook 004:
  "alert rule failures over 10 an hour").
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


ALERTING_CHECKS: tuple[Check, ...] = (
    Check("check_dag_failing", "dag_failing", dag_failing,
          "the DAG's failure alert has the error and the runbook entry: fix the cause, clear the task"),
    Check("check_alert_rule_failures", "alert_rule_failures", alert_rule_failures,
          "runbook 004 Alerts Not Firing: fix or deactivate the rules named"),
    Check("check_txn_drift", "txn_drift", txn_drift,
          "runbook 004 Incorrect Aggregate Values: duplicate event processing? trigger analytics_txn_backfill"),
)  # fmt: skip
