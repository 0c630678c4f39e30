-- Indexes never scanned since statistics were reset, of at least %(min_bytes)s bytes; unique and
-- primary-key indexes enforce constraints and are never "unused".
SELECT
    s.schemaname,
    s.indexrelname,
    s.relname,
    pg_relation_size(s.indexrelid) AS bytes
FROM pg_stat_user_indexes AS s
INNER JOIN pg_index AS i ON s.indexrelid = i.indexrelid
WHERE
    s.schemaname = any(%(schemas)s)
    AND s.idx_scan = 0
    AND NOT i.indisunique
    AND NOT i.indisprimary
    AND pg_relation_size(s.indexrelid) >= %(min_bytes)s
ORDER BY bytes DESC, s.indexrelname ASC
