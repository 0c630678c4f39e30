-- Runbook 003: per organisation and model, how long the oldest usage event not yet rolled up has
-- waited (freshness_status, migration 018), the most behind first.
SELECT
    f.org_id || '/' || f.model_id AS series,
    f.status = 'never_rolled_up' AS never_rolled_up,
    f.lag_seconds
FROM freshness_status AS f
ORDER BY f.lag_seconds DESC, never_rolled_up DESC, series ASC
