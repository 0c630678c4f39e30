"""
# Usage rollups: runbook 003's per-organisation, per-model hourly rollups, every 2 minutes

Automates runbook 003's rollup worker: `usage_events` rolled up per organisation, model and UTC hour
into `usage_rollup_hourly` (events by status, tokens, cost, latency P50/P95/P99: what the Usage and
Reliability APIs report), and the freshness the runbook watches.

**Schedule:** every 2 minutes, never two runs at once (`max_active_runs=1`): the oldest event not
yet rolled up waits about 2 minutes, well under the runbook's 10-minute freshness alert.

**What it does** (`roll_up_usage`, one task): every hourly bucket an event arrived in since the
previous run (less `usage_rollup.late_arrival`, 10 min, so an event whose ingest committed late is
not missed) is **recomputed whole** from `usage_events`, in batches of
`usage_rollup.buckets_per_batch` buckets, each one statement in its own short transaction; then every
series is marked covered up to the run's start and the watermark moves there. Nothing is ever added
to a bucket, only recomputed: a run killed at any point and run again, or two runs overlapping,
count nothing twice. The first run rolls up every event there is.

**Freshness** (runbook 003 *Freshness Lag*): the runbook's query works as written:
`SELECT org_id, model_id, last_event_at, last_rollup_at, lag_seconds, status FROM
analytics.freshness_status WHERE lag_seconds > 600 ORDER BY lag_seconds DESC;`. It is computed when
read: `lag_seconds` is how long the oldest event not yet rolled up has waited (0: nothing waits), so
a stalled rollup shows, it does not leave a stale "fresh" row behind; `status` is `current`,
`behind` or `never_rolled_up`. The continuous evaluator's `freshness_lagging` fires per organisation
and model over 10 minutes and escalates 20 minutes later (30 minutes, the runbook's escalation);
the morning health check's `freshness_lag` reports the worst series.

**Param** (optional): `rebuild_since`, an ISO 8601 time with its time zone (at most 31 days back,
not in the future): also recompute every bucket from that hour on, e.g. after events were corrected
or written with an old `received_at`. Unknown keys are refused before anything runs.

## When it fails (on call)
- **`roll_up_usage` failed**: every batch before the failure is committed, the watermark did not
  move: the next run recomputes those buckets again (nothing counted twice) and freshness_status
  shows the lag growing meanwhile. *bad parameter*: `rebuild_since` was refused (the message says
  what to type), nothing ran. *statement timeout* (a batch over `usage_rollup.statement_timeout`):
  lower `usage_rollup.buckets_per_batch`, check `EXPLAIN (ANALYZE, BUFFERS)` of the rollup
  statement (`sql/usage/rollup_buckets.sql`) and the indexes on usage_events. *lock timeout*: another
  session holds rollup rows (a rebuild run by hand?): `pg_stat_activity`. *could not connect*: the
  primary is down (runbook 001 P0). Clear the task once fixed; a long outage is caught up by the
  next run in one go.
"""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.sdk import Param, dag, task

from analytics_ops.core.dag_defaults import suite_dag_args
from analytics_ops.usage import tasks as usage

DAG_ID = "analytics_usage_rollup"


@dag(
    schedule="*/2 * * * *",
    start_date=datetime(2020, 1, 1, tzinfo=UTC),
    max_active_runs=1,
    params={
        "rebuild_since": Param(
            None,
            type=["null", "string"],
            title="Rebuild since (optional)",
            description="ISO 8601 with a time zone, e.g. 2026-11-30T00:00:00Z: also recompute every hour from "
            f"then on (at most {usage.REBUILD_MAX_DAYS} days back).",
        ),
    },
    **suite_dag_args(DAG_ID, doc_md=__doc__),
)
def analytics_usage_rollup():
    task(usage.roll_up_usage)()


analytics_usage_rollup()
