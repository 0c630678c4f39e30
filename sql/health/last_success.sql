-- The newest successful, non-dry run of a task in ops.run_log, per subject, and its age in seconds.
SELECT
    coalesce(subject, '') AS subject,
    max(finished_at) AS finished_at,
    extract(EPOCH FROM clock_timestamp() - max(finished_at))::float8 AS age_seconds
FROM ops.run_log
WHERE
    task_id = %(task_id)s
    AND (%(dag_id)s::text IS NULL OR dag_id = %(dag_id)s)
    AND outcome = 'success'
    AND NOT coalesce((details ->> 'dry_run')::boolean, FALSE)
GROUP BY 1
