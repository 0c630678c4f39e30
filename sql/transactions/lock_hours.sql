-- Two runs rewriting the same hour (a backfill and the reconciliation's repair) wait for each other.
-- One transaction-scoped advisory lock per hour, taken in time order so overlapping ranges cannot
-- deadlock. 4202 namespaces the suite's transaction-aggregate locks.
SELECT pg_advisory_xact_lock(4202, (extract(EPOCH FROM h) / 3600)::integer)
FROM generate_series(%(start)s::timestamptz, %(end)s::timestamptz - interval '1 hour', interval '1 hour') AS h
ORDER BY h
