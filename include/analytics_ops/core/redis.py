"""The Redis cache: the one way to reach it, and what it says about itself.

Like `db`, nothing here imports a client at import time: the Redis provider's hook loads when a
client is asked for.
"""

from __future__ import annotations

from typing import Any

from analytics_ops.core.config import load_config


def redis_client(conn_id: str | None = None) -> Any:
    """A redis-py client through the Airflow connection `conn_id` (default: `connections.redis`)."""
    from airflow.providers.redis.hooks.redis import RedisHook

    return RedisHook(redis_conn_id=conn_id or load_config().connections.redis).get_conn()


def redis_health(redis_client: Any) -> dict[str, Any]:
    """Memory used against maxmemory, and the keyspace hit rate (runbook 001, Cache Monitoring)."""
    memory, stats = redis_client.info("memory"), redis_client.info("stats")
    used, maximum = int(memory["used_memory"]), int(memory.get("maxmemory", 0))
    hits, misses = int(stats["keyspace_hits"]), int(stats["keyspace_misses"])
    return {
        "used_memory_bytes": used,
        "maxmemory_bytes": maximum,
        "memory_used_pct": round(100.0 * used / maximum, 1) if maximum else None,
        "keyspace_hits": hits,
        "keyspace_misses": misses,
        "hit_rate_pct": round(100.0 * hits / (hits + misses), 1) if hits + misses else None,
        "evicted_keys": int(stats.get("evicted_keys", 0)),
    }
