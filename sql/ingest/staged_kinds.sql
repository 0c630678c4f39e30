-- The kinds that have rows staged, walked on the (kind, received_at, id) index one kind at a time
-- (a loose index scan: as many index probes as kinds, not a scan of every staged row).
WITH RECURSIVE kinds AS (
    (
        SELECT s.kind FROM analytics_events_stage AS s
        ORDER BY s.kind LIMIT 1
    )
    UNION ALL
    SELECT (
        SELECT s.kind FROM analytics_events_stage AS s
        WHERE s.kind > k.kind
        ORDER BY s.kind LIMIT 1
    )
    FROM kinds AS k
    WHERE k.kind IS NOT NULL
)

SELECT k.kind FROM kinds AS k
WHERE k.kind IS NOT NULL
