-- The incident exports that need someone: pending longer than %(stuck_after)s (runbook 003 "Job stuck
-- in pending") and failed in the last %(failed_within)s (runbook 003 "Job failed"), newest first.
SELECT
    id,
    run_id,
    org_id,
    model_id,
    window_start,
    window_end,
    status,
    requested_at,
    finished_at,
    error,
    status = 'pending' AS stuck
FROM ops.incident_exports
WHERE
    (status = 'pending' AND requested_at < %(now)s::timestamptz - %(stuck_after)s::interval)
    OR (status = 'failed' AND requested_at > %(now)s::timestamptz - %(failed_within)s::interval)
ORDER BY requested_at DESC
LIMIT 20
