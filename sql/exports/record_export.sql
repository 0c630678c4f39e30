-- An export asked for by hand (pending); a retry of the same Airflow run starts it again.
INSERT INTO ops.incident_exports (run_id, org_id, model_id, window_start, window_end, max_rows)
VALUES (%(run_id)s, %(org_id)s, %(model_id)s, %(start)s, %(end)s, %(max_rows)s)
ON CONFLICT (run_id) WHERE alert_fingerprint IS NULL DO UPDATE
    SET
        status = 'pending',
        requested_at = clock_timestamp(),
        finished_at = NULL,
        error = NULL
RETURNING id
