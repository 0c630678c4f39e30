-- Move the daily_analytics rows dated from %(from_date)s up to (not including) %(upto_date)s, all
-- older than %(cutoff)s, into daily_analytics_archive, in one statement (so one transaction): a
-- range scan of the primary key's leading column deletes them and the same statement inserts them. A row
-- already in the archive fails the batch with a unique violation: move_batch_replacing.sql then
-- moves that batch instead.
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
    RETURNING (xmax = 0) AS inserted
)

SELECT
    count(*) AS moved,
    count(*) FILTER (WHERE inserted) AS inserted
FROM arrived
