"""Materialized views: refreshed CONCURRENTLY, one at a time each, logged (runbooks 001 and 004).

- `refresh`: the refresh of one view, and `refresh_group_tasks`, the tasks of a DAG that refreshes
  one `mv_refresh.groups` entry (`analytics_mv_refresh`, `analytics_mv_refresh_frequent`).

SQL: `sql/mv/`.
"""
