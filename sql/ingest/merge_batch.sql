-- One batch of analytics_ingest_merge, one statement, one short transaction: up to batch_rows of a
-- kind's oldest staged rows (after the run's keyset position, received no later than the run's
-- start) are locked, skipping rows another session holds (an ingest still writing them, another
-- merge), deleted, and folded into their hourly rollups. The delete and the upsert commit together:
-- a batch killed half-way changed nothing, so no row is lost or counted twice.
WITH picked AS (
    SELECT s.ctid
    FROM analytics_events_stage AS s
    WHERE
        s.kind = %(kind)s
        AND (s.received_at, s.id) > (%(after_received_at)s::timestamptz, %(after_id)s::bigint)
        AND s.received_at <= %(until)s::timestamptz
    ORDER BY s.received_at, s.id
    LIMIT %(batch_rows)s
    FOR UPDATE SKIP LOCKED
),

moved AS (
    DELETE FROM analytics_events_stage AS s
    WHERE s.ctid = any(array(SELECT p.ctid FROM picked AS p))
    RETURNING s.id, s.kind, s.received_at
),

folded AS (
    INSERT INTO analytics_events_rollup AS r (kind, hour, event_count, first_received_at, last_received_at)
    SELECT
        m.kind,
        date_trunc('hour', m.received_at, 'UTC') AS hour,
        count(*) AS event_count,
        min(m.received_at) AS first_received_at,
        max(m.received_at) AS last_received_at
    FROM moved AS m
    GROUP BY m.kind, date_trunc('hour', m.received_at, 'UTC')
    ON CONFLICT (kind, hour) DO UPDATE
        SET
            event_count = r.event_count + excluded.event_count,
            first_received_at = least(r.first_received_at, excluded.first_received_at),
            last_received_at = greatest(r.last_received_at, excluded.last_received_at),
            merged_at = clock_timestamp()
    RETURNING r.hour
),

last_moved AS (
    SELECT
        m.received_at,
        m.id
    FROM moved AS m
    ORDER BY m.received_at DESC, m.id DESC
    LIMIT 1
)

SELECT
    (SELECT count(*) FROM moved) AS rows_merged,
    (SELECT count(*) FROM folded) AS hours_touched,
    (SELECT lm.received_at FROM last_moved AS lm) AS last_received_at,
    (SELECT lm.id FROM last_moved AS lm) AS last_id
