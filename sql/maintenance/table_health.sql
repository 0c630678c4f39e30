-- Dead tuples and size of each ordinary table in the listed schemas.
SELECT
    s.schemaname,
    s.relname,
    s.n_live_tup,
    s.n_dead_tup,
    round(100.0 * s.n_dead_tup / greatest(s.n_live_tup + s.n_dead_tup, 1), 1)::float8 AS dead_pct,
    pg_total_relation_size(s.relid) AS total_bytes,
    pg_indexes_size(s.relid) AS index_bytes
FROM pg_stat_user_tables AS s
WHERE s.schemaname = any(%(schemas)s)
ORDER BY s.schemaname, s.relname
