-- Runbook 004's hourly aggregates rebuilt from the wallet transactions of [start, end): per UTC hour,
-- merchant and currency, the count and the summed amount.
INSERT INTO txn_hourly_agg (hour, merchant_id, currency, tx_count, gross_volume_local, updated_at)
SELECT
    date_trunc('hour', occurred_at, 'UTC') AS hour,
    merchant_id,
    currency,
    count(*) AS tx_count,
    sum(amount) AS gross_volume_local,
    now() AS updated_at
FROM wallet_transactions
WHERE occurred_at >= %(start)s::timestamptz AND occurred_at < %(end)s::timestamptz
GROUP BY 1, 2, 3
