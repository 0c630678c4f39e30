"""
# Frequent materialized-view refresh

Automates runbook 004, *Refresh Materialized Views* ("every 5-15 minutes via cron"):
`mv_txn_daily_agg` (the `frequent` group of `mv_refresh.groups` in the config).

**Schedule:** every 15 minutes, and at once when `txn_hourly_agg` was rebuilt: the Asset
`txn_hourly_agg`, which `analytics_txn_backfill` and `analytics_txn_reconciliation`'s repair update
(an Asset-or-time schedule: the view follows the data, and stays within the runbook's 5-15 minutes
otherwise). A separate DAG from the evening refresh so each has its own schedule,
deadline and history; the config refuses a view listed in both groups, so the two never refresh the
same view. Never overlaps itself: one run at a time, and the view's advisory lock.

**How:** as the evening refresh: `wait_for_replicas`, then `refresh_view` per view through the
`mv_refresh` pool with `REFRESH MATERIALIZED VIEW CONCURRENTLY` (readers never blocked), each
refresh recorded in `ops.run_log`.

## When it fails (on call)
- **`wait_for_replicas` failed**: replicas stayed behind; the next run in 15 minutes tries again.
  If it keeps failing, follow runbook 000 for the replica.
- **`list_views` failed**: the config's views for this DAG could not be listed (the primary
  unreachable, or the config refused); nothing was refreshed. Clear the task when it answers.
- **`refresh_view` failed**: the message names the view and the cause (missing unique index, lock
  or statement timeout, view missing). The dashboard keeps serving the last refresh; if its numbers look
  wrong, runbook 004, *Problem: Incorrect Aggregate Values*.
"""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, dag

from analytics_ops.core.assets import TXN_HOURLY_AGG
from analytics_ops.core.dag_defaults import suite_dag_args
from analytics_ops.mv.refresh import refresh_group_tasks

DAG_ID = "analytics_mv_refresh_frequent"


@dag(
    # Every 15 minutes, and at once when txn_hourly_agg was rebuilt (a backfill, a repaired drift).
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable("*/15 * * * *", timezone="UTC"), assets=[TXN_HOURLY_AGG]
    ),
    start_date=datetime(2020, 1, 1, tzinfo=UTC),
    max_active_runs=1,
    **suite_dag_args(DAG_ID, doc_md=__doc__),
)
def analytics_mv_refresh_frequent():
    refresh_group_tasks("frequent")


analytics_mv_refresh_frequent()
