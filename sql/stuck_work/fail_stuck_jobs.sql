-- Jobs in 'processing' for longer than %(stuck_after)s, marked failed (runbook 002, INC-003).
UPDATE processing_jobs
SET
    status = 'failed',
    error_message = %(message)s,
    completed_at = clock_timestamp()
WHERE
    status = 'processing'
    AND started_at < clock_timestamp() - %(stuck_after)s::interval
RETURNING job_id, job_type, started_at
