"""Health: the one check framework, and the checks of the morning routine and the weekly review.

- `framework`: a check (`Check`, `CheckContext`, `CheckResult`), grading (`grade_above`,
  `grade_below`) and wording, `evaluate` (measure; a check that cannot measure is critical),
  `store_results` (`ops.health_check_results`) and `run_check`, what a check task does;
- `checks_servers`, `checks_data`: the daily checks; `daily`: `DAILY_CHECKS`, in task order;
- `weekly_review`: `WEEKLY_CHECKS` (warnings only);
- `digest`: the one Slack message of a run; `digest_alerts`: the daily one's "Alerts in the last
  24 h", read from the alert evaluator's `ops.alerts` (the table, not the `alerting` package);
- `dag`: `check_tasks`, the DAG shape `analytics_health_check` and `analytics_weekly_review` share.

`evaluate` and `store_results` need no Airflow task: a continuous alert evaluator can run the same
checks. SQL: `sql/health/`, `sql/weekly_review/`. Operator guide: docs/health_checks.md.
"""
