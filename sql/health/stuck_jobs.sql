-- Runbook 002 INC-003: jobs in 'processing' for longer than %(stuck_after)s, oldest first.
SELECT
    job_id,
    job_type,
    extract(EPOCH FROM clock_timestamp() - started_at)::float8 AS seconds
FROM processing_jobs
WHERE status = 'processing' AND started_at < clock_timestamp() - %(stuck_after)s::interval
ORDER BY started_at
