-- A backup being taken: a re-run of the same backup id starts it again, unverified.
INSERT INTO ops.backups (backup_id, kind, location, started_at, dag_id, run_id)
VALUES (%(backup_id)s, %(kind)s, %(location)s, clock_timestamp(), %(dag_id)s, %(run_id)s)
ON CONFLICT (backup_id) DO UPDATE
    SET
        location = excluded.location,
        started_at = excluded.started_at,
        finished_at = NULL,
        size_bytes = NULL,
        manifest = '{}',
        verified_at = NULL,
        verification = NULL,
        deleted_at = NULL,
        dag_id = excluded.dag_id,
        run_id = excluded.run_id
