-- Runbook 003's freshness per organisation and model (freshness_status, migration 018), the most
-- behind first.
SELECT
    f.org_id,
    f.model_id,
    f.lag_seconds,
    f.status
FROM freshness_status AS f
ORDER BY f.lag_seconds DESC, f.org_id ASC, f.model_id ASC
