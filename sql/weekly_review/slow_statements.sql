-- Runbook 001 weekly review: statements of this database whose mean time is over %(min_mean_ms)s ms,
-- slowest first (pg_stat_statements normalizes constants away, so the text carries no values).
SELECT
    s.queryid,
    left(regexp_replace(s.query, '\s+', ' ', 'g'), 160) AS query,
    s.calls,
    s.mean_exec_time::float8 AS mean_ms,
    s.total_exec_time::float8 AS total_ms
FROM pg_stat_statements AS s
INNER JOIN pg_database AS d ON s.dbid = d.oid
WHERE d.datname = current_database() AND s.mean_exec_time > %(min_mean_ms)s
ORDER BY s.mean_exec_time DESC
LIMIT %(top)s
