-- Estimated bloat of tables of at least %(min_bytes)s bytes: dead tuples and free space as a share of
-- the table, from pgstattuple_approx (it reads only pages the visibility map does not vouch for).
SELECT
    n.nspname AS schemaname,
    c.relname,
    pg_relation_size(c.oid) AS bytes,
    (s.dead_tuple_percent + s.approx_free_percent)::float8 AS bloat_pct
FROM pg_class AS c
INNER JOIN pg_namespace AS n ON c.relnamespace = n.oid
CROSS JOIN LATERAL pgstattuple_approx(c.oid) AS s
WHERE
    c.relkind = 'r'
    AND n.nspname = any(%(schemas)s)
    AND pg_relation_size(c.oid) >= %(min_bytes)s
ORDER BY bloat_pct DESC
