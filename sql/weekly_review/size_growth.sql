-- This run's snapshot against the newest one taken at or before %(snapshot_before)s, largest first.
WITH previous AS (
    SELECT DISTINCT ON (schemaname, relname)
        schemaname,
        relname,
        bytes,
        captured_at
    FROM ops.table_size_history
    WHERE captured_at <= %(snapshot_before)s::timestamptz
    ORDER BY schemaname ASC, relname ASC, captured_at DESC
)

SELECT
    cur.relkind,
    cur.schemaname,
    cur.relname,
    cur.bytes,
    prev.bytes AS bytes_before,
    prev.captured_at AS captured_before
FROM ops.table_size_history AS cur
LEFT JOIN previous AS prev ON cur.schemaname = prev.schemaname AND cur.relname = prev.relname
WHERE cur.run_id = %(run_id)s
ORDER BY cur.bytes DESC, cur.relname ASC
