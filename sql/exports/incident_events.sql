-- Runbook 003's incident export: one organisation's usage events (of one model when given) that
-- occurred in [start, end), oldest first, at most max_rows, in the runbook's CSV column order;
-- timestamps as RFC 3339 in UTC. Wrapped in COPY ... TO STDOUT (FORMAT csv, HEADER) by the caller.
SELECT
    event_id,
    org_id,
    to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS occurred_at,
    to_char(received_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS received_at,
    model_id,
    actor_id,
    input_tokens,
    output_tokens,
    latency_ms,
    status,
    error_code,
    cost_estimate_cents,
    metadata
FROM usage_events
WHERE
    org_id = %(org_id)s
    AND (%(model_id)s::text IS NULL OR model_id = %(model_id)s::text)
    AND occurred_at >= %(start)s::timestamptz
    AND occurred_at < %(end)s::timestamptz
ORDER BY occurred_at ASC, event_id ASC
LIMIT %(max_rows)s
