-- The newest sample an earlier run of %(dag_id)s.%(task_id)s kept in ops.run_log, and its age.
SELECT
    details,
    extract(EPOCH FROM clock_timestamp() - finished_at)::float8 AS age_seconds
FROM ops.run_log
WHERE dag_id = %(dag_id)s AND task_id = %(task_id)s AND run_id <> %(run_id)s
ORDER BY finished_at DESC
LIMIT 1
