-- Where txn_hourly_agg differs from what wallet_transactions say for the hours [start, end): rows
-- missing, rows extra, counts or amounts different (runbook 004 "Incorrect Aggregate Values").
WITH expected AS (
    SELECT
        date_trunc('hour', occurred_at, 'UTC') AS hour,
        merchant_id,
        currency,
        count(*) AS tx_count,
        sum(amount) AS gross_volume_local
    FROM wallet_transactions
    WHERE occurred_at >= %(start)s::timestamptz AND occurred_at < %(end)s::timestamptz
    GROUP BY 1, 2, 3
),

written AS (
    SELECT
        hour,
        merchant_id,
        currency,
        tx_count,
        gross_volume_local
    FROM txn_hourly_agg
    WHERE hour >= %(start)s::timestamptz AND hour < %(end)s::timestamptz
)

SELECT
    coalesce(e.hour, w.hour) AS hour,
    coalesce(e.merchant_id, w.merchant_id) AS merchant_id,
    coalesce(e.currency, w.currency) AS currency,
    coalesce(e.tx_count, 0) AS expected_count,
    coalesce(w.tx_count, 0) AS written_count,
    coalesce(e.gross_volume_local, 0) AS expected_amount,
    coalesce(w.gross_volume_local, 0) AS written_amount,
    e.hour IS NULL AS extra,
    w.hour IS NULL AS missing
FROM expected AS e
FULL JOIN written AS w
    ON e.hour = w.hour AND e.merchant_id = w.merchant_id AND e.currency = w.currency
WHERE e.tx_count IS DISTINCT FROM w.tx_count OR e.gross_volume_local IS DISTINCT FROM w.gross_volume_local
ORDER BY 1, 2, 3
