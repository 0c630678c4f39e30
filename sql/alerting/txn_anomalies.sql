-- The newest anomaly scan of the last %(max_age)s and its anomalies, largest scores first (the
-- evaluator's txn_anomalies check). No anomaly: one row with a NULL merchant.
WITH newest AS (
    SELECT
        id,
        hour,
        history_hours,
        merchants_scored
    FROM ops.txn_anomaly_scans
    WHERE scanned_at > %(now)s::timestamptz - %(max_age)s::interval
    ORDER BY hour DESC
    LIMIT 1
)

SELECT
    n.hour,
    n.history_hours,
    n.merchants_scored,
    a.merchant_id,
    a.tx_count,
    a.mean,
    a.stddev,
    a.z_score
FROM newest AS n
LEFT JOIN ops.txn_anomalies AS a ON n.id = a.scan_id
ORDER BY abs(a.z_score) DESC NULLS LAST, a.merchant_id ASC
