-- The morning checks of runbook 001, per day from %(start_day)s to %(end_day)s. One row per failed
-- check: the day, the check's name and the offending count. No rows means every check passed.
WITH source_created AS (
    SELECT
        (created_at AT TIME ZONE 'UTC')::date AS day,
        count(*) AS tasks
    FROM tasks
    WHERE
        NOT deleted
        AND created_at >= %(start_day)s::date::timestamp AT TIME ZONE 'UTC'
        AND created_at < (%(end_day)s::date + 1)::timestamp AT TIME ZONE 'UTC'
    GROUP BY day
),

source_completed AS (
    SELECT
        (completed_at AT TIME ZONE 'UTC')::date AS day,
        count(*) AS tasks
    FROM tasks
    WHERE
        NOT deleted
        AND completed_at IS NOT NULL
        AND completed_at >= %(start_day)s::date::timestamp AT TIME ZONE 'UTC'
        AND completed_at < (%(end_day)s::date + 1)::timestamp AT TIME ZONE 'UTC'
    GROUP BY day
),

aggregated AS (
    SELECT
        date AS day,
        count(*) AS row_count,
        sum(tasks_created) AS tasks_created,
        sum(tasks_completed) AS tasks_completed,
        count(*) FILTER (WHERE completion_rate < 0 OR completion_rate > 100) AS bad_rates
    FROM daily_analytics
    WHERE date BETWEEN %(start_day)s::date AND %(end_day)s::date
    GROUP BY date
),

days AS (
    SELECT
        d::date AS day,
        coalesce(sc.tasks, 0) AS source_created,
        coalesce(sd.tasks, 0) AS source_completed,
        coalesce(a.row_count, 0) AS row_count,
        coalesce(a.tasks_created, 0) AS agg_created,
        coalesce(a.tasks_completed, 0) AS agg_completed,
        coalesce(a.bad_rates, 0) AS bad_rates
    FROM generate_series(%(start_day)s::date, %(end_day)s::date, interval '1 day') AS d
    LEFT JOIN source_created AS sc ON d::date = sc.day
    LEFT JOIN source_completed AS sd ON d::date = sd.day
    LEFT JOIN aggregated AS a ON d::date = a.day
)

SELECT
    checks.day,
    checks.check_name,
    checks.offending
FROM days
CROSS JOIN
    LATERAL (
        VALUES
        (days.day, 'completion_rate_out_of_range', days.bad_rates),
        (
            days.day, 'tasks_but_no_aggregate_rows',
            CASE
                WHEN days.row_count = 0 THEN days.source_created + days.source_completed ELSE 0
            END
        ),
        (days.day, 'tasks_created_total_mismatch', abs(days.agg_created - days.source_created)),
        (days.day, 'tasks_completed_total_mismatch', abs(days.agg_completed - days.source_completed))
    ) AS checks (day, check_name, offending)
WHERE checks.offending > 0
ORDER BY checks.day, checks.check_name
