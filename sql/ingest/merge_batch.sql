-- One batch of analytics_ingest_merge, one statement, one short transaction: up to batch_rows of a
-- kind's oldest staged rows (after the run's keyset position, received no later than the run's
-- start) are locked, skipping rows another session holds (another merge, an operator's UPDATE),
-- deleted, and folded into their hourly rollups. The delete and the upsert commit together: a batch
-- killed half-way changed nothing, so no row is lost or counted twice. ingest/merge.py first runs
-- this statement without its locking clause (no row lock while nobody holds a row) and falls back
-- to it as written when a held row makes that attempt time out.
--
-- Written for throughput (issue #18, docs/benchmarks.md "Ingest merge"), each pass over the batch's
-- rows counted:
-- - the pick is inlined in the delete's `ctid = any(array(...))`: the locked rows' ctids go straight
--   into the array (a TID scan of the delete), not first through a materialized CTE;
-- - the rows are grouped once (`grouped`), which feeds both the upsert and the batch's count;
-- - the hour is `date_bin('1 hour', received_at, <a UTC midnight>)`, the same value as
--   `date_trunc('hour', received_at, 'UTC')` for every timestamptz (an hour is 3,600 s of UTC
--   whatever the zone) but plain arithmetic, where date_trunc with a zone looks the zone up and
--   converts for every row (a third of the statement's time in EXPLAIN ANALYZE);
-- - the keyset position (the last (received_at, id) moved) is the batch's latest received_at from
--   `grouped` and the largest id moved at that instant: one filtered pass, no sort of the batch.
WITH moved AS (
    DELETE FROM analytics_events_stage AS s
    WHERE
        s.ctid = any(array(
            SELECT p.ctid
            FROM analytics_events_stage AS p
            WHERE
                p.kind = %(kind)s
                AND (p.received_at, p.id) > (%(after_received_at)s::timestamptz, %(after_id)s::bigint)
                AND p.received_at <= %(until)s::timestamptz
            ORDER BY p.received_at, p.id
            -- (sqlfluff parses a locking clause inside array(...) as identifiers: hence the noqa)
            LIMIT %(batch_rows)s  -- noqa: CP05
            FOR UPDATE SKIP LOCKED  -- noqa: CP02
        ))
    RETURNING s.id, s.received_at
),

grouped AS (
    SELECT
        date_bin('1 hour', m.received_at, '2000-01-01 00:00+00'::timestamptz) AS hour,
        count(*) AS event_count,
        min(m.received_at) AS first_received_at,
        max(m.received_at) AS last_received_at
    FROM moved AS m
    GROUP BY date_bin('1 hour', m.received_at, '2000-01-01 00:00+00'::timestamptz)
),

folded AS (
    INSERT INTO analytics_events_rollup AS r (kind, hour, event_count, first_received_at, last_received_at)
    SELECT
        %(kind)s AS kind,
        g.hour,
        g.event_count,
        g.first_received_at,
        g.last_received_at
    FROM grouped AS g
    ON CONFLICT (kind, hour) DO UPDATE
        SET
            event_count = r.event_count + excluded.event_count,
            first_received_at = least(r.first_received_at, excluded.first_received_at),
            last_received_at = greatest(r.last_received_at, excluded.last_received_at),
            merged_at = clock_timestamp()
),

last_moved AS (
    SELECT max(g.last_received_at) AS received_at FROM grouped AS g
)

SELECT
    coalesce((SELECT sum(g.event_count) FROM grouped AS g), 0)::bigint AS rows_merged,
    (SELECT lm.received_at FROM last_moved AS lm) AS last_received_at,
    (
        SELECT max(m.id)
        FROM moved AS m
        INNER JOIN last_moved AS lm ON m.received_at = lm.received_at
    ) AS last_id
