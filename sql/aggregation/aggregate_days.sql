-- Aggregate tasks into daily_analytics for every UTC day from %(start_day)s to %(end_day)s
-- (inclusive). One row per user per day on which the user created, completed or had a task fall
-- due. Metric definitions: docs in dags/analytics_daily_aggregation.py. Deleted tasks never count.
-- Each branch reads one index range; the outer query folds the three partial rows together.
INSERT INTO daily_analytics (
    date, user_id, tasks_created, tasks_completed, completion_rate, tasks_overdue,
    priority_low, priority_medium, priority_high, priority_urgent,
    status_todo, status_in_progress, status_done, status_cancelled, productivity_score
)
SELECT
    parts.day,
    parts.user_id,
    sum(parts.created)::integer,
    sum(parts.completed)::integer,
    CASE
        WHEN sum(parts.created) > 0
            THEN round(100.0 * sum(parts.created_done_same_day) / sum(parts.created), 2)
    END,
    sum(parts.overdue)::integer,
    sum(parts.p_low)::integer,
    sum(parts.p_medium)::integer,
    sum(parts.p_high)::integer,
    sum(parts.p_urgent)::integer,
    sum(parts.s_todo)::integer,
    sum(parts.s_in_progress)::integer,
    sum(parts.s_done)::integer,
    sum(parts.s_cancelled)::integer,
    round(greatest(0, sum(parts.completed_weight) - %(overdue_penalty)s::numeric * sum(parts.overdue)), 2)
FROM (
    SELECT
        c.user_id,
        (c.created_at AT TIME ZONE 'UTC')::date AS day,
        count(*) AS created,
        0 AS completed,
        count(*) FILTER (
            WHERE c.completed_at < ((c.created_at AT TIME ZONE 'UTC')::date + 1)::timestamp AT TIME ZONE 'UTC'
        ) AS created_done_same_day,
        0 AS overdue,
        count(*) FILTER (WHERE c.priority = 'low') AS p_low,
        count(*) FILTER (WHERE c.priority = 'medium') AS p_medium,
        count(*) FILTER (WHERE c.priority = 'high') AS p_high,
        count(*) FILTER (WHERE c.priority = 'urgent') AS p_urgent,
        count(*) FILTER (WHERE c.status = 'todo') AS s_todo,
        count(*) FILTER (WHERE c.status = 'in_progress') AS s_in_progress,
        count(*) FILTER (WHERE c.status = 'done') AS s_done,
        count(*) FILTER (WHERE c.status = 'cancelled') AS s_cancelled,
        0 AS completed_weight
    FROM tasks AS c
    WHERE
        NOT c.deleted
        AND c.created_at >= %(start_day)s::date::timestamp AT TIME ZONE 'UTC'
        AND c.created_at < (%(end_day)s::date + 1)::timestamp AT TIME ZONE 'UTC'
    GROUP BY c.user_id, day

    UNION ALL

    SELECT
        d.user_id,
        (d.completed_at AT TIME ZONE 'UTC')::date AS day,
        0,
        count(*),
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        sum(
            CASE d.priority
                WHEN 'low' THEN %(weight_low)s::numeric
                WHEN 'medium' THEN %(weight_medium)s::numeric
                WHEN 'high' THEN %(weight_high)s::numeric
                ELSE %(weight_urgent)s::numeric
            END
        )
    FROM tasks AS d
    WHERE
        NOT d.deleted
        AND d.completed_at IS NOT NULL
        AND d.completed_at >= %(start_day)s::date::timestamp AT TIME ZONE 'UTC'
        AND d.completed_at < (%(end_day)s::date + 1)::timestamp AT TIME ZONE 'UTC'
    GROUP BY d.user_id, day

    UNION ALL

    -- A task goes overdue on the day it falls due if it was not done by then (cancelled tasks
    -- never go overdue).
    SELECT
        o.user_id,
        (o.due_at AT TIME ZONE 'UTC')::date AS day,
        0,
        0,
        0,
        count(*) FILTER (
            WHERE o.status <> 'cancelled' AND (o.completed_at IS NULL OR o.completed_at > o.due_at)
        ),
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0
    FROM tasks AS o
    WHERE
        NOT o.deleted
        AND o.due_at IS NOT NULL
        AND o.due_at >= %(start_day)s::date::timestamp AT TIME ZONE 'UTC'
        AND o.due_at < (%(end_day)s::date + 1)::timestamp AT TIME ZONE 'UTC'
    GROUP BY o.user_id, day
) AS parts
GROUP BY parts.day, parts.user_id
