"""Aggregation: tasks (+ users) -> `daily_analytics`, one UTC day at a time (runbook 001).

- `daily`: which days a run writes (`resolve_day_range`, chunks), the rewrite of a chunk of days in
  one transaction, and the data-quality gate;
- `tasks`: the task bodies of `analytics_daily_aggregation`.

SQL: `sql/aggregation/`. Produces the `daily_analytics` asset (`core.assets`).
"""
