-- The end of an analytics_usage_rollup run, in one transaction: every series it met gets its
-- newest rolled-up arrival, every series is covered up to the run's start, and the watermark moves
-- there (never back: a slower concurrent run does not undo a newer one).
WITH met AS (
    SELECT
        m.org_id,
        m.model_id,
        m.newest
    FROM unnest(%(org_ids)s::text[], %(model_ids)s::text[], %(newest)s::timestamptz[]) AS m (org_id, model_id, newest)
),

seen AS (
    INSERT INTO usage_rollup_series AS s (org_id, model_id, last_event_at, last_rollup_at)
    SELECT
        m.org_id,
        m.model_id,
        m.newest,
        %(until)s::timestamptz
    FROM met AS m
    ON CONFLICT (org_id, model_id) DO UPDATE
        SET
            last_event_at = greatest(s.last_event_at, excluded.last_event_at),
            last_rollup_at = greatest(s.last_rollup_at, excluded.last_rollup_at)
    RETURNING s.org_id
),

covered AS (
    UPDATE usage_rollup_series AS s
    SET last_rollup_at = %(until)s::timestamptz
    WHERE
        (s.last_rollup_at IS NULL OR s.last_rollup_at < %(until)s::timestamptz)
        AND NOT EXISTS (
            SELECT 1 FROM met AS m
            WHERE m.org_id = s.org_id AND m.model_id = s.model_id
        )
    RETURNING s.org_id
)

INSERT INTO usage_rollup_watermark AS w (singleton, rolled_up_through, last_success_at)
VALUES (TRUE, %(until)s::timestamptz, clock_timestamp())
ON CONFLICT (singleton) DO UPDATE
    SET
        rolled_up_through = greatest(w.rolled_up_through, excluded.rolled_up_through),
        last_success_at = excluded.last_success_at
