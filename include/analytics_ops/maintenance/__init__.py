"""Maintenance: VACUUM of dead tuples, REINDEX CONCURRENTLY of bloated indexes, the sweep of their
invalid leftovers, and the deadlock counter (runbooks 001 and 002).

- `vacuum_reindex`: what to vacuum and reindex (table health, index bloat), doing it as the
  limited role may, and the numbers the weekly review and the archival's size report reuse;
- `tasks`: the task bodies of `analytics_weekly_maintenance`.

SQL: `sql/maintenance/`.
"""
