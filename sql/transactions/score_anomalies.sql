-- Runbook 004's SIRA: each merchant's transaction count in the hour [%(hour)s, +1 h) against its
-- trailing %(history_hours)s hours (an hour without a transaction counts as 0): mean, population
-- standard deviation and z-score. Only merchants with transactions in at least %(min_history)s hours
-- of the window, and whose window varied (stddev over 0), are scored.
WITH per_hour AS (
    SELECT
        merchant_id,
        hour,
        sum(tx_count)::double precision AS tx_count
    FROM txn_hourly_agg
    WHERE
        hour >= %(hour)s::timestamptz - %(history_hours)s * interval '1 hour'
        AND hour <= %(hour)s::timestamptz
    GROUP BY merchant_id, hour
),

history AS (
    SELECT
        merchant_id,
        count(*) AS hours_seen,
        sum(tx_count) / %(history_hours)s AS mean,
        sum(tx_count * tx_count) / %(history_hours)s AS mean_square
    FROM per_hour
    WHERE hour < %(hour)s::timestamptz
    GROUP BY merchant_id
),

scored AS (
    SELECT
        h.merchant_id,
        coalesce(j.tx_count, 0) AS tx_count,
        h.mean,
        sqrt(greatest(h.mean_square - h.mean * h.mean, 0)) AS stddev
    FROM history AS h
    LEFT JOIN per_hour AS j ON h.merchant_id = j.merchant_id AND j.hour = %(hour)s::timestamptz
    WHERE h.hours_seen >= %(min_history)s
)

SELECT
    merchant_id,
    tx_count::bigint AS tx_count,
    mean,
    stddev,
    (tx_count - mean) / stddev AS z_score
FROM scored
WHERE stddev > 0
ORDER BY merchant_id
