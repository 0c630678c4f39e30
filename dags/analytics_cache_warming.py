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

from airflow.sdk import Param, dag, get_current_context, task

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
    @task
    def select_users() -> list[dict]:
        from analytics_ops.cache_warming import WarmWindow, active_users, chunk, source_connection_id
        from analytics_ops.core.db import connect
        from analytics_ops.core.errors import ParamsRefused

        context = get_current_context()
        top_users = context["params"].get("top_users")
        if top_users is not None and (isinstance(top_users, bool) or not isinstance(top_users, int) or top_users < 1):
            raise ParamsRefused(f"top_users must be a whole number of at least 1, or empty; got {top_users!r}")
        config = load_config()
        as_of = context.get("logical_date") or context["dag_run"].run_after
        window = WarmWindow.ending(as_of, config.cache.active_days)
        with connect(source_connection_id(config), application_name=f"analytics-ops:{DAG_ID}.select_users") as conn:
            users = active_users(conn, window, top_users)
        chunks = chunk(users, config.cache.chunk_users)
        print(f"{len(users)} active users between {window.since} and {window.as_of}: {len(chunks)} chunk(s)")
        return [{**window.params(), "user_ids": ids} for ids in chunks]

    @task(max_active_tis_per_dagrun=CONFIG.cache.parallel_chunks)
    def warm_chunk(work: dict) -> dict:
        from analytics_ops import cache_warming
        from analytics_ops.core.db import connect
        from analytics_ops.core.redis import redis_client

        config = load_config()
        window = cache_warming.WarmWindow(datetime.fromisoformat(work["since"]), datetime.fromisoformat(work["as_of"]))
        dry_run = bool(get_current_context()["params"].get("dry_run"))
        client = None if dry_run else redis_client()
        source = cache_warming.source_connection_id(config)
        with connect(source, application_name=f"analytics-ops:{DAG_ID}.warm_chunk") as conn:
            result = cache_warming.warm_chunk(conn, client, work["user_ids"], window, config)
        print(f"{result.users} users: {result.keys} keys computed, {result.keys_written} written")
        return {"users": result.users, "keys": result.keys, "keys_written": result.keys_written, "dry_run": dry_run}

    @task
    def remove_keys_without_ttl() -> dict:
        from analytics_ops import cache_warming
        from analytics_ops.core.redis import redis_client, redis_health

        dry_run = bool(get_current_context()["params"].get("dry_run"))
        client = redis_client()
        # Redis counts the sweep's TTL probes as keyspace hits: take the hit rate before sweeping.
        health = redis_health(client)
        swept = cache_warming.remove_keys_without_ttl(client, load_config().cache, dry_run)
        print(f"hygiene: {swept}")
        return {**swept, "hit_rate_pct": health["hit_rate_pct"]}

    @task
    def report(results: list[dict], swept: dict) -> dict:
        from analytics_ops.core.db import connect
        from analytics_ops.core.redis import redis_client, redis_health
        from analytics_ops.core.run_log import record_task_run

        results = [results[i] for i in range(len(results))]  # one read per mapped result
        summary = {
            "users_warmed": sum(r["users"] for r in results),
            "keys_computed": sum(r["keys"] for r in results),
            "keys_written": sum(r["keys_written"] for r in results),
            "dry_run": any(r["dry_run"] for r in results),
            "keys_without_ttl_deleted": swept["deleted"],
            **redis_health(redis_client()),
            "hit_rate_pct": swept["hit_rate_pct"],
        }
        print("cache warming: " + ", ".join(f"{k}={v}" for k, v in summary.items()))
        with connect(application_name=f"analytics-ops:{DAG_ID}.report") as conn:
            record_task_run(conn, subject="redis", details=summary)
        return summary

    work = select_users()
    if CONFIG.cache.read_from == "replica":
        ReplicaLagSensor(task_id="wait_for_replicas") >> work
    results = warm_chunk.expand(work=work)
    swept = remove_keys_without_ttl()
    results >> swept
    report(results, swept)


analytics_cache_warming()
