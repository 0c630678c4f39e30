-- The organisation/model series whose usage events wait for the rollup, the most behind first
-- (runbook 003's "Check Freshness Status").
SELECT
    f.org_id,
    f.model_id,
    f.last_event_at,
    f.last_rollup_at,
    f.lag_seconds,
    f.status
FROM freshness_status AS f
WHERE f.status <> 'current'
ORDER BY f.lag_seconds DESC, f.org_id ASC, f.model_id ASC
LIMIT %(shown)s
