-- The newest reconciliation of the last %(max_age)s: rows it found drifting and not repaired, with the
-- largest differences first (the evaluator's txn_drift check).
WITH newest AS (
    SELECT
        id,
        window_start,
        window_end,
        drifted_rows,
        repaired
    FROM ops.txn_reconciliations
    WHERE checked_at > %(now)s::timestamptz - %(max_age)s::interval
    ORDER BY checked_at DESC
    LIMIT 1
)

SELECT
    n.window_start,
    n.window_end,
    n.drifted_rows,
    n.repaired,
    d.hour,
    d.merchant_id,
    d.currency,
    d.written_count - d.expected_count AS count_delta,
    d.written_amount - d.expected_amount AS amount_delta
FROM newest AS n
LEFT JOIN ops.txn_drift AS d ON n.id = d.reconciliation_id
ORDER BY abs(d.written_count - d.expected_count) DESC NULLS LAST, d.hour ASC, d.merchant_id ASC
LIMIT 5
