"""
# Cache warming: active users' metrics → Redis

Automates runbook 001, *Cache Management › Cache Warming* (`python -m jobs.cache_warming`,
`--top-users=1000`) and *Cache Invalidation › Scheduled Invalidation*.

**Schedule:** every 6 hours (00:00, 06:00, 12:00, 18:00 UTC). Each run works "as of" its logical
date (a manual run: the moment it was triggered).

**What it does**
1. `wait_for_replicas` (only when `cache.read_from: replica`): waits until replica lag is within
   limits, in the triggerer.
2. `select_users`: the users whose tasks changed in the `cache.active_days` (7) days before the run,
   most active first; param `top_users` keeps only the N most active. Cut into chunks of
   `cache.chunk_users`.
3. `warm_chunk` (one mapped task per chunk, retried alone, `cache.parallel_chunks` at a time): one
   query computes all five metrics for every user of the chunk, and the keys go to Redis
   `cache.pipeline_commands` per round trip with `SET ... EX` (value and TTL in one command: no key
   is ever left without a TTL).
4. `remove_keys_without_ttl`: `SCAN` (never `KEYS`) for `analytics:*` keys without a TTL and
   delete them, each checked and deleted atomically.
5. `report`: keys written, users warmed, Redis memory against `maxmemory`, keyspace hit rate
   (taken before the sweep, whose TTL probes Redis counts as hits; earlier runs' probes remain in
   Redis's cumulative counters, about one hit per cached key per run), evictions; also written to
   `ops.run_log`.

Param `dry_run`: compute everything, write nothing (hygiene only counts).

## Keys (config `cache`)
| key | value (JSON, with `as_of`) |
|---|---|
| `analytics:task_totals:{user_id}` | `total`, `done`, `open`, `cancelled`, `overdue` (open and past due) |
| `analytics:completion_rate:{user_id}` | `completion_rate`: % of the user's tasks that are done (NULL with no tasks) |
| `analytics:priority_distribution:{user_id}` | tasks per priority |
| `analytics:status_distribution:{user_id}` | tasks per status |
| `analytics:productivity_score:{user_id}` | the daily aggregation's score summed over the last 7 days |
| `analytics:overview:{user_id}` | all five together |

Every key has TTL `cache.ttl` (7 h): longer than the schedule, so keys never lapse between runs, and a
user who stops being active drops out by expiry. Deleted tasks never count.

## When it fails (on call)
- **`wait_for_replicas` failed**: the replica stayed behind; the message has the lag. The cache
  keeps its previous values until their TTL. Fix the replica (runbook 000) or set
  `cache.read_from: primary` for a while, then clear the task.
- **`select_users` failed**: `ParamsRefused` means a bad `top_users`; otherwise the source
  database is unreachable (see the error).
- **`warm_chunk` failed after retries**: usually Redis is down or full (`redis-cli ping`,
  `redis-cli info memory`). Chunks that finished are complete; clear the failed mapped task once
  Redis is back. Runbook 001, *Issue: Cache Not Working*.
- **`remove_keys_without_ttl` / `report` failed**: Redis went away mid-run; nothing is lost, the
  next run repeats both.
"""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.sdk import Param, dag, task

from analytics_ops.cache import tasks as cache
from analytics_ops.core.config import load_config
from analytics_ops.core.dag_defaults import suite_dag_args
from analytics_ops.replication.sensors import ReplicaLagSensor

DAG_ID = "analytics_cache_warming"
CONFIG = load_config()


@dag(
    schedule="0 */6 * * *",
    start_date=datetime(2020, 1, 1, tzinfo=UTC),
    max_active_runs=1,
    params={
        "top_users": Param(
            None,
            type=["null", "integer"],
            minimum=1,
            title="Only the N most active users",
            description="Empty: every active user. A number: the N users with the most task changes.",
        ),
        "dry_run": Param(False, type="boolean", title="Dry run", description="Compute, but write nothing to Redis."),
    },
    **suite_dag_args(DAG_ID, doc_md=__doc__),
)
def analytics_cache_warming():
    work = task(cache.select_users)()
    if CONFIG.cache.read_from == "replica":
        ReplicaLagSensor(task_id="wait_for_replicas") >> work
    results = task(cache.warm_chunk, max_active_tis_per_dagrun=CONFIG.cache.parallel_chunks).expand(work=work)
    swept = task(cache.remove_keys_without_ttl)()
    results >> swept
    task(cache.report)(results, swept)


analytics_cache_warming()
