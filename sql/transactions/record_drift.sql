INSERT INTO ops.txn_drift (
    reconciliation_id, hour, merchant_id, currency, expected_count, written_count, expected_amount, written_amount
)
VALUES (
    %(reconciliation_id)s,
    %(hour)s,
    %(merchant_id)s,
    %(currency)s,
    %(expected_count)s,
    %(written_count)s,
    %(expected_amount)s,
    %(written_amount)s
)
