-- Statements running for longer than %(min_age)s, longest first; never this session.
SELECT
    pid,
    datname,
    usename,
    application_name,
    extract(EPOCH FROM clock_timestamp() - query_start)::float8 AS seconds
FROM pg_stat_activity
WHERE
    backend_type = 'client backend'
    AND state = 'active'
    AND pid <> pg_backend_pid()
    AND query_start < clock_timestamp() - %(min_age)s::interval
ORDER BY query_start
