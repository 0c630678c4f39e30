-- Whether %(schema)s.%(view)s is a materialized view, has been populated, and has a unique index on
-- plain columns (no WHERE, no expression): what REFRESH ... CONCURRENTLY needs. Always one row.
SELECT
    c.oid IS NOT NULL AS view_exists,
    coalesce(c.relispopulated, FALSE) AS populated,
    coalesce((
        SELECT bool_or(i.indisunique AND i.indisvalid AND i.indpred IS NULL AND i.indexprs IS NULL)
        FROM pg_index AS i
        WHERE i.indrelid = c.oid
    ), FALSE) AS has_unique_plain_index
FROM (
    SELECT
        %(schema)s::name AS nspname,
        %(view)s::name AS relname
) AS wanted
LEFT JOIN pg_namespace AS n ON wanted.nspname = n.nspname
LEFT JOIN pg_class AS c ON n.oid = c.relnamespace AND wanted.relname = c.relname AND c.relkind = 'm'
