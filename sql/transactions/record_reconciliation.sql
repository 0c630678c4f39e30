-- One reconciliation run's verdict; a re-run of the same Airflow run replaces it (and its drift rows).
INSERT INTO ops.txn_reconciliations (run_id, window_start, window_end, drifted_rows, repaired)
VALUES (%(run_id)s, %(window_start)s, %(window_end)s, %(drifted_rows)s, FALSE)
ON CONFLICT (run_id) DO UPDATE
    SET
        window_start = excluded.window_start,
        window_end = excluded.window_end,
        checked_at = clock_timestamp(),
        drifted_rows = excluded.drifted_rows,
        repaired = FALSE
RETURNING id
