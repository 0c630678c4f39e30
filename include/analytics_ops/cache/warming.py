"""Warm the Redis cache for active users (runbook 001, Cache Management › Cache Warming).

Set-based: one query finds the active users, one query per chunk of users computes all five
metrics (and the overview) for all of them as ready-to-serve JSON, and the keys go to Redis in
pipelines of `cache.pipeline_commands`, each key written with `SET ... EX ttl` (value and TTL in one
atomic command, so no key is ever left without a TTL, whatever fails half-way).

The pipeline is written by hand, on purpose: the batch of `SET ... EX` commands is encoded to RESP in
one bytes join and sent on a redis-py connection, and redis-py reads the replies back (with the
hiredis parser). redis-py's own pipeline encodes each command argument by argument in Python and
reached about 90k keys/s here (a Lua script taking the batch as arguments: 180k keys/s); the figure
this reaches is in docs/benchmarks.md. No library offers a faster bulk `SET ... EX` from Python.

Key layout (config `cache`): `analytics:{metric}:{user_id}` for each of the five metrics and
`analytics:overview:{user_id}` with all five; values are JSON objects carrying `as_of`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from analytics_ops.core.config import CACHE_METRICS, CacheSettings, SuiteConfig, load_config

# Deletes a key only if it still has no TTL: a key re-written (with a TTL) between the check and the
# delete survives. Sent with EVALSHA in pipelines.
_DELETE_IF_NO_TTL = "if redis.call('TTL', KEYS[1]) == -1 then return redis.call('DEL', KEYS[1]) else return 0 end"


@dataclass(frozen=True)
class WarmWindow:
    since: datetime
    as_of: datetime

    @classmethod
    def ending(cls, as_of: datetime, active_days: int) -> WarmWindow:
        return cls(as_of - timedelta(days=active_days), as_of)

    def params(self) -> dict[str, str]:
        return {"since": self.since.isoformat(), "as_of": self.as_of.isoformat()}


def source_connection_id(config: SuiteConfig | None = None) -> str:
    config = config or load_config()
    return config.connections.replica if config.cache.read_from == "replica" else config.connections.primary


def active_users(conn: Any, window: WarmWindow, top_users: int | None) -> list[int]:
    from analytics_ops.core.db import sql_file

    rows = conn.execute(sql_file("cache/active_users"), {**window.params(), "top_users": top_users}).fetchall()
    return [r[0] for r in rows]


def chunk(user_ids: list[int], size: int) -> list[list[int]]:
    # Sorted so each chunk reads a compact range of the user index.
    ordered = sorted(user_ids)
    return [ordered[i : i + size] for i in range(0, len(ordered), size)]


def metric_rows(conn: Any, user_ids: list[int], window: WarmWindow, config: SuiteConfig) -> list[tuple]:
    """(user_id, task_totals, completion_rate, priority_distribution, status_distribution,
    productivity_score, overview) per user, each a JSON text."""
    from analytics_ops.core.db import sql_file

    weights = config.aggregation.priority_weights
    params = {
        **window.params(),
        # A separate text parameter: reusing as_of would type it timestamptz and print it in the
        # session's time zone.
        "as_of_label": window.as_of.isoformat(),
        "user_ids": user_ids,
        "active_days": config.cache.active_days,
        "weight_low": weights.low,
        "weight_medium": weights.medium,
        "weight_high": weights.high,
        "weight_urgent": weights.urgent,
        "overdue_penalty": config.aggregation.overdue_penalty,
    }
    return conn.execute(sql_file("cache/user_metrics"), params).fetchall()


def cache_entries(rows: list[tuple], settings: CacheSettings) -> list[tuple[str, str]]:
    """(key, value) pairs for the rows: five metric keys and one overview key per user."""
    entries = []
    for user_id, *metrics, overview in rows:
        for metric, value in zip(CACHE_METRICS, metrics, strict=True):
            entries.append((settings.key_template.format(metric=metric, user_id=user_id), value))
        entries.append((settings.overview_key_template.format(user_id=user_id), overview))
    return entries


def _pack_sets(batch: list[tuple[str, str]], ttl_arg: bytes) -> bytes:
    # RESP for `SET key value EX ttl`, one bytes join for the whole batch (see the module docstring).
    parts = []
    for key, value in batch:
        k, v = key.encode(), value.encode()
        parts.append(b"*5\r\n$3\r\nSET\r\n$%d\r\n%b\r\n$%d\r\n%b\r\n%b" % (len(k), k, len(v), v, ttl_arg))
    return b"".join(parts)


def write_entries(redis_client: Any, entries: list[tuple[str, str]], settings: CacheSettings) -> int:
    """SET key value EX ttl for every entry, `pipeline_commands` commands per round trip."""
    ttl = b"%d" % int(settings.ttl.total_seconds())
    ttl_arg = b"$2\r\nEX\r\n$%d\r\n%b\r\n" % (len(ttl), ttl)
    pool = redis_client.connection_pool
    connection = pool.get_connection()
    written = 0
    step = settings.pipeline_commands
    try:
        for start in range(0, len(entries), step):
            batch = entries[start : start + step]
            connection.send_packed_command([_pack_sets(batch, ttl_arg)])
            for _ in batch:
                connection.read_response()  # raises on an error reply (e.g. OOM): keys before it are set
                written += 1
    except BaseException:
        connection.disconnect()  # replies may be left unread: never hand this connection back as is
        raise
    finally:
        pool.release(connection)
    return written


@dataclass(frozen=True)
class ChunkResult:
    users: int
    keys: int  # computed
    keys_written: int  # 0 on a dry run


def warm_chunk(
    conn: Any, redis_client: Any | None, user_ids: list[int], window: WarmWindow, config: SuiteConfig
) -> ChunkResult:
    rows = metric_rows(conn, user_ids, window, config)
    entries = cache_entries(rows, config.cache)
    written = 0 if redis_client is None else write_entries(redis_client, entries, config.cache)
    return ChunkResult(len(rows), len(entries), written)


def remove_keys_without_ttl(redis_client: Any, settings: CacheSettings, dry_run: bool = False) -> dict[str, int]:
    """Runbook 001's scheduled invalidation, done with SCAN (never KEYS): keys matching the pattern
    that have no TTL are deleted, checked and deleted atomically per key."""
    scanned = without_ttl = deleted = 0
    script = redis_client.script_load(_DELETE_IF_NO_TTL) if not dry_run else None
    batch: list[bytes] = []

    def flush() -> None:
        nonlocal without_ttl, deleted
        pipe = redis_client.pipeline(transaction=False)
        for key in batch:
            pipe.ttl(key)
        candidates = [key for key, ttl in zip(batch, pipe.execute(), strict=True) if ttl == -1]
        without_ttl += len(candidates)
        if candidates and not dry_run:
            pipe = redis_client.pipeline(transaction=False)
            for key in candidates:
                pipe.evalsha(script, 1, key)
            deleted += sum(pipe.execute())
        batch.clear()

    for key in redis_client.scan_iter(match=settings.hygiene_pattern, count=settings.scan_count):
        scanned += 1
        batch.append(key)
        if len(batch) >= settings.scan_count:
            flush()
    if batch:
        flush()
    return {"scanned": scanned, "without_ttl": without_ttl, "deleted": deleted}
