-- Sessions idle in a transaction for longer than %(min_age)s, oldest first (no query text: it can
-- carry data, and this goes to Slack).
SELECT
    pid,
    datname,
    usename,
    application_name,
    extract(EPOCH FROM clock_timestamp() - state_change)::float8 AS seconds
FROM pg_stat_activity
WHERE
    backend_type = 'client backend'
    AND state IN ('idle in transaction', 'idle in transaction (aborted)')
    AND state_change < clock_timestamp() - %(min_age)s::interval
ORDER BY state_change
