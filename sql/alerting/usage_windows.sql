-- Runbook 003's error-rate and latency alerts, per organisation and model, from the usage events of
-- the last 20 minutes before %(now)s: the last 5 minutes ("recent"), the 15 before them ("before"),
-- and the last 10 minutes for P95. Errors: status error or timeout (throttled is the caller's
-- limit, not a failure of the service).
WITH windowed AS (
    SELECT
        org_id,
        model_id,
        latency_ms,
        status IN ('error', 'timeout') AS failed,
        occurred_at >= %(now)s::timestamptz - interval '5 minutes' AS recent,
        occurred_at >= %(now)s::timestamptz - interval '10 minutes' AS last_10
    FROM usage_events
    WHERE
        occurred_at >= %(now)s::timestamptz - interval '20 minutes'
        AND occurred_at < %(now)s::timestamptz
)

SELECT
    org_id,
    model_id,
    count(*) FILTER (WHERE recent) AS recent_events,
    count(*) FILTER (WHERE recent AND failed) AS recent_errors,
    count(*) FILTER (WHERE NOT recent) AS before_events,
    count(*) FILTER (WHERE NOT recent AND failed) AS before_errors,
    count(*) FILTER (WHERE last_10) AS last_10_events,
    percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms) FILTER (WHERE last_10) AS p95_last_10,
    percentile_cont(0.99) WITHIN GROUP (ORDER BY latency_ms) FILTER (WHERE recent) AS p99_recent,
    percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms) FILTER (WHERE recent) AS p95_recent,
    percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms) FILTER (WHERE NOT recent) AS p95_before
FROM windowed
GROUP BY org_id, model_id
ORDER BY org_id, model_id
