-- Runbook 004's aggregation lag: how long the oldest wallet transaction created after the consumer's
-- newest write to txn_hourly_agg has waited (0 when none waits). Both sides read an index
-- (created_at, updated_at).
WITH last_write AS (
    SELECT max(updated_at) AS at FROM txn_hourly_agg
)

SELECT
    coalesce(extract(EPOCH FROM %(now)s::timestamptz - min(t.created_at)), 0)::double precision AS lag_seconds,
    (SELECT lw.at FROM last_write AS lw) AS last_write,
    count(t.created_at) AS waiting
FROM wallet_transactions AS t
WHERE
    t.created_at > coalesce((SELECT lw.at FROM last_write AS lw), '-infinity')
    AND t.created_at <= %(now)s::timestamptz
