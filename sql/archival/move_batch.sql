-- Move the daily_analytics rows older than %(cutoff)s with keys in ((%(after_date)s, %(after_user)s),
-- (%(upto_date)s, %(upto_user)s)] into daily_analytics_archive, in one statement (so one
-- transaction): a primary-key range scan deletes them and the same statement inserts them. A row
-- already in the archive fails the batch with a unique violation: move_batch_replacing.sql then
-- moves that batch instead.
WITH moved AS (
    DELETE FROM daily_analytics
    WHERE
        date < %(cutoff)s::date
        AND (date, user_id) > (%(after_date)s::date, %(after_user)s::bigint)
        AND (date, user_id) <= (%(upto_date)s::date, %(upto_user)s::bigint)
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
    RETURNING (xmax = 0) AS inserted
)

SELECT
    count(*) AS moved,
    count(*) FILTER (WHERE inserted) AS inserted
FROM arrived
