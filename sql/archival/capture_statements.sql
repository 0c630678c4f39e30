-- Keep the top %(top)s statements of pg_stat_statements (by total time) before the monthly reset.
INSERT INTO ops.pg_stat_statements_history (
    captured_at, queryid, dbname, username, query, calls, total_exec_time, mean_exec_time, rows,
    shared_blks_hit, shared_blks_read
)
SELECT
    clock_timestamp(),
    s.queryid,
    d.datname,
    r.rolname,
    s.query,
    s.calls,
    s.total_exec_time,
    s.mean_exec_time,
    s.rows,
    s.shared_blks_hit,
    s.shared_blks_read
FROM pg_stat_statements AS s
LEFT JOIN pg_database AS d ON s.dbid = d.oid
LEFT JOIN pg_roles AS r ON s.userid = r.oid
ORDER BY s.total_exec_time DESC
LIMIT %(top)s
