"""The task bodies of `analytics_cache_warming` and `analytics_cache_clear`, one function per task."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from analytics_ops.core import tasks
from analytics_ops.core.config import load_config


def _dry_run() -> bool:
    return bool(tasks.params().get("dry_run"))


def select_users() -> list[dict[str, Any]]:
    # The active users of the window, in chunks; refuses a bad `top_users` before anything is read.
    from analytics_ops.cache.warming import WarmWindow, active_users, chunk, source_connection_id
    from analytics_ops.core.errors import ParamsRefused

    top_users = tasks.params().get("top_users")
    if top_users is not None and (isinstance(top_users, bool) or not isinstance(top_users, int) or top_users < 1):
        raise ParamsRefused(f"top_users must be a whole number of at least 1, or empty; got {top_users!r}")
    config = load_config()
    window = WarmWindow.ending(tasks.run_date(), config.cache.active_days)
    with tasks.task_session(source_connection_id(config)) as conn:
        users = active_users(conn, window, top_users)
    chunks = chunk(users, config.cache.chunk_users)
    print(f"{len(users)} active users between {window.since} and {window.as_of}: {len(chunks)} chunk(s)")
    return [{**window.params(), "user_ids": ids} for ids in chunks]


def warm_chunk(work: dict[str, Any]) -> dict[str, Any]:
    from analytics_ops.cache import warming
    from analytics_ops.core.redis import redis_client

    config = load_config()
    window = warming.WarmWindow(datetime.fromisoformat(work["since"]), datetime.fromisoformat(work["as_of"]))
    dry_run = _dry_run()
    client = None if dry_run else redis_client()
    with tasks.task_session(warming.source_connection_id(config)) as conn:
        result = warming.warm_chunk(conn, client, work["user_ids"], window, config)
    print(f"{result.users} users: {result.keys} keys computed, {result.keys_written} written")
    return {"users": result.users, "keys": result.keys, "keys_written": result.keys_written, "dry_run": dry_run}


def remove_keys_without_ttl() -> dict[str, Any]:
    from analytics_ops.cache.warming import remove_keys_without_ttl as remove
    from analytics_ops.core.redis import redis_client, redis_health

    client = redis_client()
    # Redis counts the sweep's TTL probes as keyspace hits: take the hit rate before sweeping.
    health = redis_health(client)
    swept = remove(client, load_config().cache, _dry_run())
    print(f"hygiene: {swept}")
    return {**swept, "hit_rate_pct": health["hit_rate_pct"]}


def report(results: list[dict[str, Any]], swept: dict[str, Any]) -> dict[str, Any]:
    from analytics_ops.core.redis import redis_client, redis_health
    from analytics_ops.core.xcom import mapped_results

    results = mapped_results(results)
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
    tasks.record("redis", summary)
    return summary


def check_clear_params() -> dict[str, Any]:
    # The keys to clear, as one SCAN pattern; refuses bad params before Redis is reached.
    from analytics_ops.cache.clearing import clear_request
    from analytics_ops.core.params import refused

    with refused("deleted"):
        request = clear_request(tasks.params(), load_config().cache)
    print(f"{'dry run: ' if request.dry_run else ''}clearing the keys matching {request.pattern!r} ({request.scope})")
    return request.as_dict()


def clear_keys(request: dict[str, Any]) -> dict[str, Any]:
    # SCAN + UNLINK in pipelined batches (a dry run only counts); the result goes to ops.run_log.
    from analytics_ops.cache.clearing import clear_keys as clear
    from analytics_ops.core.redis import redis_client

    started = datetime.now(UTC)
    result = clear(redis_client(), request["pattern"], load_config().cache, dry_run=request["dry_run"])
    print(result.summary())
    summary = {**request, **result.as_dict()}
    tasks.record(request["pattern"], summary, started_at=started)
    return summary
