-- Client connections on the whole server against max_connections (runbooks 001 and 002).
SELECT
    count(*) FILTER (WHERE backend_type = 'client backend') AS connections,
    current_setting('max_connections')::integer AS max_connections
FROM pg_stat_activity
