-- Runbook 003: per model, how far the newest rollup trails the newest source event, worst first.
SELECT
    model_id,
    last_event_at IS NOT NULL AND last_rollup_at IS NULL AS never_rolled_up,
    greatest(extract(EPOCH FROM last_event_at - last_rollup_at), 0)::float8 AS lag_seconds
FROM freshness_status
ORDER BY never_rolled_up DESC, lag_seconds DESC NULLS LAST, model_id ASC
