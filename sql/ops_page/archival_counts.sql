-- Rows and date ranges of daily_analytics and its archive now, and the newest archival run's
-- counts from the run log (NULLs when the archival has never run).
WITH live AS (
    SELECT
        count(*) AS n,
        min(d.date) AS oldest
    FROM daily_analytics AS d
),

archived AS (
    SELECT
        count(*) AS n,
        min(a.date) AS oldest,
        max(a.date) AS newest
    FROM daily_analytics_archive AS a
),

last_run AS (
    SELECT
        r.finished_at,
        r.details,
        r.dag_id,
        r.run_id
    FROM ops.run_log AS r
    WHERE r.task_id = 'archive_rows' AND r.subject = 'daily_analytics'
    ORDER BY r.finished_at DESC
    LIMIT 1
)

SELECT
    live.n AS live_rows,
    live.oldest AS live_oldest,
    archived.n AS archived_rows,
    archived.oldest AS archived_oldest,
    archived.newest AS archived_newest,
    last_run.finished_at AS last_run_finished_at,
    last_run.details AS last_run_details,
    last_run.dag_id AS last_run_dag_id,
    last_run.run_id AS last_run_run_id
FROM live
CROSS JOIN archived
LEFT JOIN last_run ON TRUE
