-- Client sessions of this database idle in a transaction for longer than %(limit)s, terminated;
-- never this session, never an application_name starting with one of %(allow)s.
SELECT
    a.pid,
    a.usename,
    a.application_name,
    a.state_change,
    pg_terminate_backend(a.pid) AS terminated
FROM pg_stat_activity AS a
WHERE
    a.datname = current_database()
    AND a.backend_type = 'client backend'
    AND a.state IN ('idle in transaction', 'idle in transaction (aborted)')
    AND a.state_change < clock_timestamp() - %(limit)s::interval
    AND a.pid <> pg_backend_pid()
    AND NOT EXISTS (
        SELECT 1 FROM unnest(%(allow)s::text[]) AS p (prefix)
        WHERE a.application_name LIKE p.prefix || '%%'
    )
