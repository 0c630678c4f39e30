-- The tables whose rows a full backup counts: ordinary tables outside the system schemas that no
-- extension owns (materialized views are refreshed on restore, so their rows are not compared).
SELECT
    n.nspname AS schema_name,
    c.relname AS table_name
FROM pg_class AS c
INNER JOIN pg_namespace AS n ON c.relnamespace = n.oid
WHERE
    c.relkind = 'r'
    AND n.nspname NOT IN ('pg_catalog', 'information_schema')
    AND left(n.nspname, 3) <> 'pg_'
    AND NOT EXISTS (
        SELECT 1 FROM pg_depend AS d
        WHERE
            d.classid = 'pg_class'::regclass
            AND d.objid = c.oid
            AND d.deptype = 'e'
    )
ORDER BY 1, 2
