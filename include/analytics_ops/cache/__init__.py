"""Cache: per-user metrics warmed into Redis, the hygiene of keys without a TTL (runbook 001), and
clearing keys on demand (runbook 004).

- `warming`: active users, their five metrics, `SET ... EX` in pipelines, the `SCAN` hygiene pass;
- `clearing`: params to one pattern kept within the suite's prefixes, `SCAN` + pipelined `UNLINK`;
- `tasks`: the task bodies of `analytics_cache_warming` and `analytics_cache_clear`.

SQL: `sql/cache/`. The Redis client itself is `core.redis` (the health checks use it too).
"""
