"""Stuck work: jobs stuck in `processing` marked failed, sessions idle in a transaction terminated
(runbook 002, INC-003; never the suite's own sessions or allow-listed applications').

- `jobs_and_sessions`: the two actions, each one statement;
- `tasks`: the task bodies of `analytics_stuck_work`.

SQL: `sql/stuck_work/`.
"""
