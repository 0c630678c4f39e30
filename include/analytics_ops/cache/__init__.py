"""Cache: per-user metrics warmed into Redis, and the hygiene of keys without a TTL (runbook 001).

- `warming`: active users, their five metrics, `SET ... EX` in pipelines, the `SCAN` hygiene pass;
- `tasks`: the task bodies of `analytics_cache_warming`.

SQL: `sql/cache/`. The Redis client itself is `core.redis` (the health checks use it too).
"""
