-- Estimated bloat of each valid b-tree index of at least %(min_index_bytes)s bytes in the listed
-- schemas, from pgstattuple's pgstatindex(): the share of the leaf pages' space that a freshly built
-- index (packed to its fillfactor, 90 by default) would not need.
SELECT
    n.nspname AS schemaname,
    c.relname AS indexname,
    t.relname AS tablename,
    pg_relation_size(c.oid) AS index_bytes,
    s.avg_leaf_density::float8 AS avg_leaf_density,
    greatest(
        0,
        round(100 - 100 * s.avg_leaf_density::numeric / coalesce(
            (
                SELECT substring(opt FROM 'fillfactor=(\d+)')::numeric
                FROM unnest(c.reloptions) AS opt
                WHERE opt LIKE 'fillfactor=%%'
            ),
            90
        ), 1)
    )::float8 AS bloat_pct
FROM pg_index AS i
INNER JOIN pg_class AS c ON i.indexrelid = c.oid
INNER JOIN pg_class AS t ON i.indrelid = t.oid
INNER JOIN pg_namespace AS n ON c.relnamespace = n.oid
INNER JOIN pg_am AS am ON c.relam = am.oid
CROSS JOIN LATERAL pgstatindex(c.oid) AS s
WHERE
    am.amname = 'btree'
    AND i.indisvalid
    AND n.nspname = any(%(schemas)s)
    AND pg_relation_size(c.oid) >= %(min_index_bytes)s
ORDER BY bloat_pct DESC
