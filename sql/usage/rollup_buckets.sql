-- One batch of analytics_usage_rollup, one statement, one short transaction: the listed buckets
-- (organisation, model, UTC hour), all within [hours_from, hours_to), recomputed whole from their usage events
-- and upserted. The events are read by occurrence over that range (usage_events_occurred_at_idx; an
-- ingest appends in time order, so the range is a compact part of the table) and matched to the
-- buckets by a hash join. Recomputing (never adding) makes a re-run, an overlap with the previous
-- run or a late event count nothing twice. Latency percentiles as the evaluator's rules compute
-- them (percentile_cont).
WITH buckets AS (
    SELECT
        b.org_id,
        b.model_id,
        b.hour
    FROM unnest(%(org_ids)s::text[], %(model_ids)s::text[], %(hours)s::timestamptz[]) AS b (org_id, model_id, hour)
)

INSERT INTO usage_rollup_hourly AS r (
    org_id, model_id, hour, events, successes, errors, timeouts, throttled, input_tokens, output_tokens,
    cost_estimate_cents, latency_p50_ms, latency_p95_ms, latency_p99_ms, first_event_at, last_event_at
)
SELECT
    b.org_id,
    b.model_id,
    b.hour,
    count(*) AS events,
    count(*) FILTER (WHERE e.status = 'success') AS successes,
    count(*) FILTER (WHERE e.status = 'error') AS errors,
    count(*) FILTER (WHERE e.status = 'timeout') AS timeouts,
    count(*) FILTER (WHERE e.status = 'throttled') AS throttled,
    sum(e.input_tokens) AS input_tokens,
    sum(e.output_tokens) AS output_tokens,
    sum(e.cost_estimate_cents) AS cost_estimate_cents,
    percentile_cont(0.5) WITHIN GROUP (ORDER BY e.latency_ms) AS latency_p50_ms,
    percentile_cont(0.95) WITHIN GROUP (ORDER BY e.latency_ms) AS latency_p95_ms,
    percentile_cont(0.99) WITHIN GROUP (ORDER BY e.latency_ms) AS latency_p99_ms,
    min(e.occurred_at) AS first_event_at,
    max(e.occurred_at) AS last_event_at
FROM usage_events AS e
INNER JOIN buckets AS b
    ON
        e.org_id = b.org_id
        AND e.model_id = b.model_id
        AND date_trunc('hour', e.occurred_at, 'UTC') = b.hour
WHERE
    e.occurred_at >= %(hours_from)s::timestamptz
    AND e.occurred_at < %(hours_to)s::timestamptz
GROUP BY b.org_id, b.model_id, b.hour
ON CONFLICT (org_id, model_id, hour) DO UPDATE
    SET
        events = excluded.events,
        successes = excluded.successes,
        errors = excluded.errors,
        timeouts = excluded.timeouts,
        throttled = excluded.throttled,
        input_tokens = excluded.input_tokens,
        output_tokens = excluded.output_tokens,
        cost_estimate_cents = excluded.cost_estimate_cents,
        latency_p50_ms = excluded.latency_p50_ms,
        latency_p95_ms = excluded.latency_p95_ms,
        latency_p99_ms = excluded.latency_p99_ms,
        first_event_at = excluded.first_event_at,
        last_event_at = excluded.last_event_at,
        rolled_up_at = clock_timestamp()
