-- Each valid product rule's metrics over its window: the hourly aggregates whose hour falls in
-- the last window_minutes before %(now)s (runbook 004's "hour >= NOW() - INTERVAL ..."), of one
-- merchant or of all. One statement for every rule.
SELECT
    r.id,
    coalesce(sum(a.tx_count), 0)::float8 AS tx_count,
    coalesce(sum(a.gross_volume_local), 0)::float8 AS gross_volume_local,
    count(a.hour) AS hours
FROM unnest(%(ids)s::bigint[], %(windows)s::integer[], %(merchants)s::bigint[]) AS r (id, window_minutes, merchant_id)
LEFT JOIN txn_hourly_agg AS a
    ON
        a.hour >= %(now)s::timestamptz - make_interval(mins => r.window_minutes)
        AND a.hour <= %(now)s::timestamptz
        AND (r.merchant_id IS NULL OR r.merchant_id = a.merchant_id)
GROUP BY r.id
ORDER BY r.id
