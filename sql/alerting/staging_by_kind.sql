-- Runbook 000's staging backlog by kind (the Buffer Size panel): rows waiting per kind, how long the
-- oldest has waited, and whether its merge is switched off in analytics_merge_control. Read on the
-- (kind, received_at, id) index.
WITH staged AS (
    SELECT
        s.kind,
        count(*) AS waiting,
        min(s.received_at) AS oldest
    FROM analytics_events_stage AS s
    GROUP BY s.kind
)

SELECT
    st.kind,
    st.waiting,
    greatest(extract(EPOCH FROM %(now)s::timestamptz - st.oldest), 0)::double precision AS oldest_seconds,
    coalesce(c.enabled, TRUE) AS merge_enabled,
    c.batch_rows
FROM staged AS st
LEFT JOIN analytics_merge_control AS c ON st.kind = c.kind
ORDER BY st.waiting DESC, st.kind ASC
