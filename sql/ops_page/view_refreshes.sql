-- The newest recorded refresh of each materialized view in %(views)s (views never refreshed are
-- absent), from the suite's run log.
SELECT DISTINCT ON (r.subject)
    r.subject AS view_name,
    r.finished_at,
    r.outcome,
    r.details,
    r.dag_id,
    r.run_id
FROM ops.run_log AS r
WHERE r.task_id = 'refresh_view' AND r.subject = any(%(views)s)
ORDER BY r.subject ASC, r.finished_at DESC
