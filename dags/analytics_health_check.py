"""
# Health check: the morning routine, one task per check, one Slack digest

Automates runbook 001's *Daily Health Check* and *Morning Routine* (08:00 UTC), runbook 002's daily
checklist, runbook 003's freshness lag and runbook 000's staging backlog, replica lag and buffer
cache. A person reads one Slack message instead of typing twenty commands.

**Schedule:** daily 08:00 UTC. "Yesterday" is the UTC day before the run's logical date.

**What it does.** Each `check_*` task measures one thing and grades it `ok`, `warn` or `critical`
against `health_check` in the config (defaults from the runbooks). A **critical** result fails its
task at once (no retry: the measurement is the answer) and the failure alert goes out at this DAG's
severity, naming the check, the value, the threshold and what to do; a **warning** does not fail
anything, it shows in the digest. A check that cannot measure (server down) is critical.

| task | measures | default thresholds |
|---|---|---|
| `check_postgres_reachable` | the primary answers | critical if not |
| `check_connections` | client connections / `max_connections` | warn 80%, critical 95% |
| `check_idle_in_transaction` | sessions idle in a transaction | warn > 1 min, critical > 10 min |
| `check_long_queries` | statements running long | warn > 5 min, critical > 30 min |
| `check_buffer_cache` | buffer-cache hit ratio of the database | warn < 90%, critical < 80% |
| `check_replica_lag` | each replica (primary's view, its own): seconds, bytes | warn 30 s / 16 MB, crit. 60 s / 64 MB |
| `check_replication_slots` | WAL retained by each slot; inactive or lost slots | warn 1 GB, critical 8 GB |
| `check_redis_reachable` | Redis answers PING | critical if not |
| `check_redis_memory` | `used_memory` / `maxmemory` | warn 75%, critical 90% |
| `check_redis_hit_rate` | keyspace hit rate since the previous check | warn < 70% |
| `check_redis_evictions` | keys evicted per hour since the previous check | warn > 1000/h |
| `check_daily_analytics` | rows of `daily_analytics` for yesterday | critical at 0 |
| `check_daily_analytics_anomalies` | yesterday's rows with completion rate outside 0-100 | critical at 1 |
| `check_freshness` | `freshness_status`: newest rollup behind newest event | warn > 5 min, critical > 10 min |
| `check_staging_backlog` | rows in `analytics_events_stage` | warn 10k, critical 100k |
| `check_stuck_jobs` | jobs in `processing` too long | warn > 30 min, critical > 2 h |
| `check_backups` | newest verified full / base backup in `ops.backups` | full 26 h / 50 h or none, base 8 d / 15 d |
| `check_mv_refresh` | each view's last refresh (`ops.run_log`) | evening group 26 h / 50 h, frequent 1 h / 3 h |
| `check_archival` | last monthly archival | warn > 36 d, critical > 64 d |
| `check_cache_warm` | last cache warming | warn > 7 h, critical > 13 h |

Every result is kept in `ops.health_check_results` (check, status, value, number, threshold):
`SELECT checked_at, status, value FROM ops.health_check_results WHERE check_name = 'redis_memory'
ORDER BY checked_at DESC;`. Before `ops.backups` exists (no backup DAG deployed),
`check_backups` warns "backups not set up" (`health_check.suite.when_backups_not_set_up`).

`send_digest` (runs whatever the checks did) posts one Slack message through `connections.slack`:
a line per result, worst first, with its value and threshold; then **Alerts in the last 24 h**: each
continuous alert (`ops.alerts`, `analytics_alert_evaluator`) firing at some moment of the 24 h before
the run's logical date, still firing first, with its severity (escalated or not), since when, when it
resolved and its value (a primary that does not answer, or no `ops.alerts` yet, is one line saying
so: the digest goes out anyway); and a link to this run.
`all_checks_passed` does nothing itself: it is skipped as upstream-failed when a check failed, so the
run is marked failed while the digest still succeeds.

## When it fails (on call)
The failed task's alert names the check, what it measured and the threshold; the digest has all of
them. Each task's message ends with what to do:
- **`check_postgres_reachable`**: the primary does not answer. Runbook 001 P0: `systemctl status postgresql`,
  its log.
- **`check_connections`**: near `max_connections`. Who holds them: `SELECT application_name, state, count(*)
  FROM pg_stat_activity GROUP BY 1, 2;` (runbook 002 INC-002).
- **`check_idle_in_transaction`**: `analytics_stuck_work` terminates these after 10 minutes; is it running?
  The detail lists pid, user and application.
- **`check_long_queries`**: look at the pids listed; `pg_cancel_backend(pid)` if they hurt (runbook 001 P1).
- **`check_buffer_cache`**: the working set no longer fits `shared_buffers`, or a new query reads whole
  tables.
- **`check_replica_lag`**: runbook 000: over 60 s, move analytics reads to the primary; is replay paused
  (`pg_is_wal_replay_paused()` on the replica)?
- **`check_replication_slots`**: a slot nobody consumes keeps WAL until the disk fills: bring its replica back
  or `pg_drop_replication_slot`.
- **`check_redis_reachable`**: runbook 001 *Cache Not Working*: `redis-cli ping`, restart Redis, then trigger
  `analytics_cache_warming`.
- **`check_redis_memory`**: runbook 001 *Cache Monitoring*: raise `maxmemory` or shorten `cache.ttl`.
- **`check_redis_hit_rate`** / **`check_redis_evictions`**: warnings only (runbook 001 *Cache Optimization*).
- **`check_daily_analytics`**: yesterday was not aggregated: look at `analytics_daily_aggregation`'s run;
  trigger it with `start_date` = that day.
- **`check_daily_analytics_anomalies`**: runbook 001 *Data Corruption*: look at the users named, re-aggregate
  the day.
- **`check_freshness`**: runbook 003 *Freshness Lag*: is the rollup worker running?
- **`check_staging_backlog`**: runbook 000 *AnalyticsBufferGrowth*: are the merges stuck?
- **`check_stuck_jobs`**: `analytics_stuck_work` should have failed them; is it running? (runbook 002 INC-003)
- **`check_backups`**: no recent verified backup of a kind (`newest_verified_backup`: the daily full
  dump; `newest_verified_backup:base`: the weekly base backup): look at that backup DAG's runs and take one now.
- **`check_mv_refresh`**: look at `analytics_mv_refresh` / `analytics_mv_refresh_frequent`; `REFRESH
  MATERIALIZED VIEW CONCURRENTLY <view>` by hand if needed.
- **`check_archival`**: look at `analytics_monthly_archival`'s last runs.
- **`check_cache_warm`**: look at `analytics_cache_warming`'s runs; the cache empties as its keys expire.
- **`send_digest`**: Slack (the `slack_ops` connection) refused the message; the results are in
  `ops.health_check_results` and in each task's log. Clear the task once Slack answers.
"""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.sdk import dag

from analytics_ops.core.dag_defaults import suite_dag_args
from analytics_ops.health.dag import check_tasks
from analytics_ops.health.daily import DAILY_CHECKS

DAG_ID = "analytics_health_check"


@dag(
    schedule="0 8 * * *",
    start_date=datetime(2020, 1, 1, tzinfo=UTC),
    max_active_runs=1,
    **suite_dag_args(DAG_ID, doc_md=__doc__),
)
def analytics_health_check():
    check_tasks(
        DAILY_CHECKS,
        digest_title="Daily health check",
        done_task_id="all_checks_passed",
        done_message="every check passed (warnings, if any, are in the digest)",
        with_alerts=True,
    )


analytics_health_check()
