-- Move the daily_analytics rows dated from %(from_date)s up to (not including) %(upto_date)s, all
-- older than %(cutoff)s, into daily_analytics_archive, in one statement (so one
-- transaction), like move_batch.sql, for a batch in which some rows are already in the archive (a
-- day aggregated again after it was archived): those are replaced by the newer rows. Slower (each
-- row is probed before it is inserted), so used only when move_batch.sql hit a unique violation.
WITH moved AS (
    DELETE FROM daily_analytics
    WHERE
        date < %(cutoff)s::date
        AND date >= %(from_date)s::date
        AND date < %(upto_date)s::date
    RETURNING *
),

arrived AS (
    INSERT INTO daily_analytics_archive (
        date, user_id, tasks_created, tasks_completed, completion_rate, tasks_overdue,
        priority_low, priority_medium, priority_high, priority_urgent,
        status_todo, status_in_progress, status_done, status_cancelled, productivity_score
    )
    SELECT
        date,
        user_id,
        tasks_created,
        tasks_completed,
        completion_rate,
        tasks_overdue,
        priority_low,
        priority_medium,
        priority_high,
        priority_urgent,
        status_todo,
        status_in_progress,
        status_done,
        status_cancelled,
        productivity_score
    FROM moved
    ON CONFLICT (date, user_id) DO UPDATE
        SET
            tasks_created = excluded.tasks_created,
            tasks_completed = excluded.tasks_completed,
            completion_rate = excluded.completion_rate,
            tasks_overdue = excluded.tasks_overdue,
            priority_low = excluded.priority_low,
            priority_medium = excluded.priority_medium,
            priority_high = excluded.priority_high,
            priority_urgent = excluded.priority_urgent,
            status_todo = excluded.status_todo,
            status_in_progress = excluded.status_in_progress,
            status_done = excluded.status_done,
            status_cancelled = excluded.status_cancelled,
            productivity_score = excluded.productivity_score,
            archived_at = now()
    RETURNING (xmax = 0) AS inserted
)

SELECT
    count(*) AS moved,
    count(*) FILTER (WHERE inserted) AS inserted
FROM arrived
