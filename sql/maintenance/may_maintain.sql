-- May the session's role VACUUM / REINDEX / REFRESH relation %(relation)s, and who owns it?
-- Ownership (or membership in the owner role) allows it everywhere; PostgreSQL 17 added the
-- MAINTAIN privilege (pg_maintain). A VACUUM without the right does not fail, it only warns and
-- skips the table: this is asked first so that a missing grant is an error someone sees.
SELECT
    c.relowner::regrole::text AS owner,
    -- CASE, not AND: PostgreSQL does not promise to evaluate AND's operands in order, and before
    -- 17 has_table_privilege() rejects 'MAINTAIN'.
    CASE
        WHEN pg_has_role(c.relowner, 'USAGE') THEN TRUE
        WHEN current_setting('server_version_num')::int >= 170000
            THEN has_table_privilege(coalesce(i.indrelid, c.oid), 'MAINTAIN')
        ELSE FALSE
    END AS allowed
FROM pg_class AS c
-- An index is maintained through its table's privilege.
LEFT JOIN pg_index AS i ON c.oid = i.indexrelid
WHERE c.oid = to_regclass(%(relation)s)
