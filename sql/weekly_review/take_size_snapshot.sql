-- Size of every table, materialized view (with its indexes and TOAST) and index in the listed schemas.
INSERT INTO ops.table_size_history (captured_at, run_id, schemaname, relname, relkind, table_name, bytes)
SELECT
    %(checked_at)s::timestamptz,
    %(run_id)s,
    n.nspname,
    c.relname,
    CASE WHEN c.relkind = 'i' THEN 'index' ELSE 'table' END,
    coalesce(t.relname, c.relname),
    CASE WHEN c.relkind = 'i' THEN pg_relation_size(c.oid) ELSE pg_total_relation_size(c.oid) END
FROM pg_class AS c
INNER JOIN pg_namespace AS n ON c.relnamespace = n.oid
LEFT JOIN pg_index AS i ON c.oid = i.indexrelid
LEFT JOIN pg_class AS t ON i.indrelid = t.oid
WHERE c.relkind IN ('r', 'm', 'i') AND n.nspname = any(%(schemas)s)
