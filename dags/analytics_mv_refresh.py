"""
# Evening materialized-view refresh

Automates runbook 001, *Daily Operations › Evening Routine › Refresh Materialized Views*:
`user_task_stats`, `user_priority_distribution`, `user_status_distribution`,
`user_monthly_trends` (the `evening` group of `mv_refresh.groups` in the config).

**Schedule:** daily at 18:00 UTC. Never overlaps itself (one run at a time; each view also takes an
advisory lock, so a refresh started by hand elsewhere makes this one fail fast and retry).

**How:** `wait_for_replicas` first (refreshes write a lot of WAL), then one mapped `refresh_view`
task per view, at most `mv_refresh.pool_slots` at a time through the `mv_refresh` pool. Each uses
`REFRESH MATERIALIZED VIEW CONCURRENTLY`, so readers of the view are never blocked: they see the
old contents until the new ones commit. A view that was never populated gets a plain first refresh.
Each refresh (view, start, seconds, rows, mode) goes to `ops.run_log`, which answers "when was this
view last refreshed" (Postgres keeps no such record):
`SELECT subject, max(finished_at) FROM ops.run_log WHERE task_id = 'refresh_view' GROUP BY 1;`

## When it fails (on call)
- **`wait_for_replicas` failed**: replicas stayed behind (message has the lag). Views keep their
  previous contents; readers are unaffected. Fix the replica, then clear the task.
- **`list_views` failed**: the config's views for this DAG could not be listed (the primary
  unreachable, or the config refused); nothing was refreshed. Clear the task when it answers.
- **`refresh_view` failed**: the message names the view.
  - *no unique index on plain columns*: create one as the message says (`CREATE UNIQUE INDEX
    CONCURRENTLY ...`), then clear the task.
  - *not a materialized view*: the config names a view that does not exist here.
  - *lock timeout* / *already being refreshed*: another session holds the view; it retries by
    itself. Find the holder: `SELECT pid, query FROM pg_stat_activity WHERE query ILIKE '%refresh%';`
  - *statement timeout*: the view outgrew `mv_refresh.statement_timeout`; raise it or make the
    view cheaper.
"""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.sdk import dag

from analytics_ops.core.dag_defaults import suite_dag_args
from analytics_ops.mv.refresh import refresh_group_tasks

DAG_ID = "analytics_mv_refresh"


@dag(
    schedule="0 18 * * *",
    start_date=datetime(2020, 1, 1, tzinfo=UTC),
    max_active_runs=1,
    **suite_dag_args(DAG_ID, doc_md=__doc__),
)
def analytics_mv_refresh():
    refresh_group_tasks("evening")


analytics_mv_refresh()
