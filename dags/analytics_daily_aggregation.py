"""
# Daily aggregation: tasks → `daily_analytics`

Automates runbook 001, *Daily Operations › Morning Routine › Verify Data Aggregation* and the
manual `python -m jobs.daily_aggregation --date=...` of *P2: Background Job Failure*.

**Schedule:** daily at 01:00 UTC. Each scheduled run aggregates **the previous UTC day**: the run
of 2026-01-16 01:00 writes 2026-01-15. (Airflow 3 cron runs carry no data interval, so the day is
computed from the run's logical date on purpose.) Runs made by `airflow backfill create` follow the
same rule, one day per run.

**Backfill a range by hand:** *Trigger DAG* with `start_date` and `end_date` (YYYY-MM-DD, both
included; `end_date` defaults to `start_date`). The range is refused before anything is written if a
date is malformed or not a real day, if `end_date` is before `start_date`, if a day is not over yet
(UTC), if it starts before `aggregation.earliest_day` (2020-01-01), or if it spans more than
`aggregation.max_backfill_days` (366). A conf key that is not one of these params (a typo such as
`start_dte`) refuses the run too, naming the keys it accepts. The range is cut into chunks
of `aggregation.chunk_days` days, one mapped task each, `aggregation.parallel_chunks` at a time.

**Gated on replica lag:** `wait_for_replicas` holds the write until every streaming replica is
within `replication.max_lag_seconds` / `max_lag_bytes` (runbook 000: over 60 s is trouble), waiting
in the triggerer, for at most `replication.timeout`.

**What it touches:** reads `tasks` on `analytics_db`; rewrites the processed days of
`daily_analytics`; appends to `ops.run_log`; emits the `daily_analytics` asset when the quality
gate passes.

## Metrics (per user per UTC day)
A row exists for a user and a day when the user created, completed or had a task fall due that day.
Deleted tasks (`deleted = true`) never count. Productivity weights (`aggregation.priority_weights`):
low 1, medium 2, high 3, urgent 4; the overdue penalty (`aggregation.overdue_penalty`) is 0.5.

| column | definition |
|---|---|
| `tasks_created` | tasks created that day |
| `tasks_completed` | tasks completed that day (whenever created) |
| `completion_rate` | % of the day's created tasks completed the same UTC day, 2 decimals; NULL when none were created |
| `tasks_overdue` | tasks due that day that were not completed by their due time (cancelled tasks excluded) |
| `priority_*` | the day's created tasks by priority (low, medium, high, urgent) |
| `status_*` | the day's created tasks by their status when aggregated (todo, in_progress, done, cancelled) |
| `productivity_score` | priority weights of tasks completed that day, minus a penalty per overdue task, min 0 |

## Idempotency
Each chunk is one transaction: take an advisory lock per day, delete the days, insert them again.
Re-running a day gives the same rows; readers never see a half-written day; two runs on the same day
wait for each other.

## Data-quality gate (`check_quality`)
After the write, per day: completion rate outside 0–100; a day with tasks but no aggregate rows;
sum of `tasks_created` / `tasks_completed` different from the source. A failure names the day, the
check and the offending count, and does not retry (the data will not change by waiting).

## When it fails (on call)
- **`resolve_days` failed**: a bad param; the message says which. Trigger again with a corrected one.
  Nothing was written.
- **`wait_for_replicas` failed**: a replica stayed behind for the whole wait; the message gives each
  replica's lag in seconds and bytes. Nothing was written. Look at the replica (runbook 000,
  *AnalyticsPipelineBroken* step 3: `SELECT * FROM pg_stat_replication;` on the primary,
  `SELECT pg_is_wal_replay_paused();` on the replica); once it has caught up, clear the task.
- **`aggregate_chunk` failed after retries**: read the log. A lock or statement timeout means the
  primary is busy: re-run the failed chunk (*Clear* on that mapped task) once it calms down. Every
  chunk that finished is complete and correct.
- **`check_quality` failed**: the written rows disagree with `tasks`. Look at the named day:
  `SELECT * FROM daily_analytics WHERE date = '<day>' ORDER BY user_id;`. If tasks changed under the
  run, re-running the day fixes it; otherwise it is a bug in the aggregation SQL
  (`sql/aggregation/aggregate_days.sql`): escalate to the suite's owners.
"""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.sdk import Param, dag, task

from analytics_ops.aggregation import tasks as aggregation
from analytics_ops.core.assets import DAILY_ANALYTICS
from analytics_ops.core.config import load_config
from analytics_ops.core.dag_defaults import suite_dag_args
from analytics_ops.replication.sensors import ReplicaLagSensor

DAG_ID = "analytics_daily_aggregation"
CONFIG = load_config()


@dag(
    schedule="0 1 * * *",
    # Early enough that `airflow backfill create` can reach any history the tasks table keeps.
    start_date=datetime(2020, 1, 1, tzinfo=UTC),
    max_active_runs=4,
    params={
        "start_date": Param(
            None,
            type=["null", "string"],
            title="First day to aggregate",
            description="YYYY-MM-DD (UTC). Leave empty for the default: the day before the run's logical date.",
        ),
        "end_date": Param(
            None,
            type=["null", "string"],
            title="Last day to aggregate",
            description=(
                "YYYY-MM-DD (UTC), included. Empty: same as start_date. "
                f"At most {CONFIG.aggregation.max_backfill_days} days from start_date, and not today or later."
            ),
        ),
    },
    **suite_dag_args(DAG_ID, doc_md=__doc__),
)
def analytics_daily_aggregation():
    chunks = task(aggregation.resolve_days)()
    written = task(aggregation.aggregate_chunk, max_active_tis_per_dagrun=CONFIG.aggregation.parallel_chunks).expand(
        chunk=chunks
    )
    chunks >> ReplicaLagSensor(task_id="wait_for_replicas") >> written
    written >> task(aggregation.check_quality, outlets=[DAILY_ANALYTICS])(chunks)


analytics_daily_aggregation()
