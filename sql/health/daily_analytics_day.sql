-- Rows of daily_analytics for %(day)s, and those whose completion rate is outside 0-100
-- (runbook 001 morning routine: "check for anomalies"), with a few of their users.
SELECT
    count(*) AS total_rows,
    count(*) FILTER (WHERE completion_rate < 0 OR completion_rate > 100) AS anomalies,
    (array_agg(user_id ORDER BY user_id) FILTER (WHERE completion_rate < 0 OR completion_rate > 100))[1:5]
        AS example_users
FROM daily_analytics
WHERE date = %(day)s::date
