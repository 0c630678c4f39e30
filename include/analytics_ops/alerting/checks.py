"""The checks only the continuous evaluator runs, in the one check framework (`health.framework`).

- `dag_failing`: each suite DAG whose newest runs failed (`ops.dag_run_outcomes`, written by the
  failure callbacks), with the seconds since the streak's first failure: escalation by elapsed time,
  not by a count of runs (a daily DAG's "two failed runs" is two days).
- `alert_rule_failures`: evaluations of product rules that failed in the last hour (runbook 004:
  "alert rule failures over 10 an hour").
"""

from __future__ import annotations

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


ALERTING_CHECKS: tuple[Check, ...] = (
    Check("check_dag_failing", "dag_failing", dag_failing,
          "the DAG's failure alert has the error and the runbook entry: fix the cause, clear the task"),
    Check("check_alert_rule_failures", "alert_rule_failures", alert_rule_failures,
          "runbook 004 Alerts Not Firing: fix or deactivate the rules named"),
)  # fmt: skip
