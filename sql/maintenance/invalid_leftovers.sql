-- Invalid indexes left behind by a failed REINDEX ... CONCURRENTLY (named <index>_ccnew[N] or
-- <index>_ccold[N]); nothing else is ever swept.
SELECT
    n.nspname AS schemaname,
    c.relname AS indexname
FROM pg_index AS i
INNER JOIN pg_class AS c ON i.indexrelid = c.oid
INNER JOIN pg_namespace AS n ON c.relnamespace = n.oid
WHERE NOT i.indisvalid AND c.relname ~ '_cc(new|old)[0-9]*$'
ORDER BY 1, 2
