"""Runbook 003's usage analytics (Postgres-only): usage_events rolled up per organisation, model and hour.

- `rollup`: analytics_usage_rollup's work: the hourly buckets new events arrived in, recomputed whole
  from usage_events in short batches into usage_rollup_hourly, then the series' coverage and the
  watermark that `freshness_status` (the runbook's shape) measures the lag against;
- `tasks`: the task body of analytics_usage_rollup.
"""
