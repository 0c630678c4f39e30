"""Archival: `daily_analytics` older than `archival.retention_years` moved to its archive in keyset
batches with verified counts, `pg_stat_statements` kept then reset, a size report (runbook 001).

- `archive`: the cutoff (refused when too recent), the batched move, the statements' history;
- `tasks`: the task bodies of `analytics_monthly_archival`.

SQL: `sql/archival/`.
"""
