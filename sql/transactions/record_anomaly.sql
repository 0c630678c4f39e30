INSERT INTO ops.txn_anomalies (scan_id, merchant_id, tx_count, mean, stddev, z_score)
VALUES (%(scan_id)s, %(merchant_id)s, %(tx_count)s, %(mean)s, %(stddev)s, %(z_score)s)
