-- One scored hour; scoring the same hour again (a re-run) replaces it and its anomalies.
INSERT INTO ops.txn_anomaly_scans (hour, run_id, history_hours, z_threshold, merchants_scored, anomalies)
VALUES (%(hour)s, %(run_id)s, %(history_hours)s, %(z_threshold)s, %(merchants_scored)s, %(anomalies)s)
ON CONFLICT (hour) DO UPDATE
    SET
        run_id = excluded.run_id,
        scanned_at = clock_timestamp(),
        history_hours = excluded.history_hours,
        z_threshold = excluded.z_threshold,
        merchants_scored = excluded.merchants_scored,
        anomalies = excluded.anomalies
RETURNING id
