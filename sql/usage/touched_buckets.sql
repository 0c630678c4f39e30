-- The hourly buckets analytics_usage_rollup recomputes: every (organisation, model, UTC hour of
-- occurrence) with an event received after the previous run's watermark less the late-arrival
-- margin (every event on a first run), up to this run's start; with rebuild_since, also every
-- bucket from that hour on. Read by arrival on usage_events_received_at_idx, by occurrence on
-- usage_events_occurred_at_idx.
SELECT
    e.org_id,
    e.model_id,
    date_trunc('hour', e.occurred_at, 'UTC') AS hour,
    max(e.received_at) AS newest_received_at
FROM usage_events AS e
WHERE
    e.received_at > coalesce(%(since)s::timestamptz, '-infinity')
    AND e.received_at <= %(until)s::timestamptz
GROUP BY e.org_id, e.model_id, date_trunc('hour', e.occurred_at, 'UTC')
UNION
SELECT
    e.org_id,
    e.model_id,
    date_trunc('hour', e.occurred_at, 'UTC') AS hour,
    max(e.received_at) AS newest_received_at
FROM usage_events AS e
WHERE
    %(rebuild_since)s::timestamptz IS NOT NULL
    AND e.occurred_at >= date_trunc('hour', %(rebuild_since)s::timestamptz, 'UTC')
    AND e.received_at <= %(until)s::timestamptz
GROUP BY e.org_id, e.model_id, date_trunc('hour', e.occurred_at, 'UTC')
ORDER BY hour, org_id, model_id
