-- Client sessions of this database idle in a transaction for longer than %(limit)s, terminated;
-- never this session, never an application_name that %(allow)s spares. A superuser's
-- session is listed but not signalled unless we are a superuser too: pg_terminate_backend() would
-- raise an ERROR for it (pg_signal_backend may not signal a superuser) and fail the whole statement.
WITH idle AS (
    SELECT
        a.pid,
        a.usename,
        a.application_name,
        a.state_change,
        coalesce(r.rolsuper, FALSE) AND NOT (
            SELECT me.rolsuper FROM pg_roles AS me
            WHERE me.rolname = current_user
        ) AS protected
    FROM pg_stat_activity AS a
    LEFT JOIN pg_roles AS r ON a.usesysid = r.oid
    WHERE
        a.datname = current_database()
        AND a.backend_type = 'client backend'
        AND a.state IN ('idle in transaction', 'idle in transaction (aborted)')
        AND a.state_change < clock_timestamp() - %(limit)s::interval
        AND a.pid <> pg_backend_pid()
        -- Spared: an application_name equal to an entry, or starting with an entry's text before
        -- its trailing '*' (no LIKE: '_' and '%%' in a name are plain characters).
        AND NOT EXISTS (
            SELECT 1 FROM unnest(%(allow)s::text[]) AS p (entry)
            WHERE
                CASE
                    WHEN right(p.entry, 1) = '*' THEN starts_with(a.application_name, left(p.entry, -1))
                    ELSE a.application_name = p.entry
                END
        )
)

SELECT
    pid,
    usename,
    application_name,
    state_change,
    CASE WHEN protected THEN FALSE ELSE pg_terminate_backend(pid) END AS terminated,
    CASE WHEN protected THEN 'a superuser''s session: the suite''s role may not signal it' END AS skipped_because
FROM idle
