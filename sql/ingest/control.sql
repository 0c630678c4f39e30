-- The kill switch and batch size of one kind, read before every batch (no row: the config's defaults).
SELECT
    c.enabled,
    c.batch_rows
FROM analytics_merge_control AS c
WHERE c.kind = %(kind)s
