-- The five cached metrics (runbook 001, METRICS_TO_CACHE) for the users in %(user_ids)s, one row per
-- user, each metric already the JSON the API serves, plus the overview holding all five. Over the
-- user's tasks that are not deleted; "as of" %(as_of)s; the productivity score covers the
-- %(active_days)s days before it.
SELECT
    o.user_id,
    o.task_totals::text AS task_totals,
    o.completion_rate::text AS completion_rate,
    o.priority_distribution::text AS priority_distribution,
    o.status_distribution::text AS status_distribution,
    o.productivity_score::text AS productivity_score,
    jsonb_build_object(
        'user_id', o.user_id,
        'as_of', %(as_of_label)s::text,
        'task_totals', o.task_totals,
        'completion_rate', o.completion_rate,
        'priority_distribution', o.priority_distribution,
        'status_distribution', o.status_distribution,
        'productivity_score', o.productivity_score
    )::text AS overview
FROM (
    SELECT
        m.user_id,
        jsonb_build_object(
            'total', m.total, 'done', m.done, 'open', m.open, 'cancelled', m.cancelled, 'overdue', m.overdue,
            'as_of', %(as_of_label)s::text
        ) AS task_totals,
        jsonb_build_object(
            'completion_rate', CASE WHEN m.total > 0 THEN round(100.0 * m.done / m.total, 2) END,
            'as_of', %(as_of_label)s::text
        ) AS completion_rate,
        jsonb_build_object(
            'low', m.p_low, 'medium', m.p_medium, 'high', m.p_high, 'urgent', m.p_urgent, 'as_of', %(as_of_label)s::text
        ) AS priority_distribution,
        jsonb_build_object(
            'todo', m.s_todo, 'in_progress', m.s_in_progress, 'done', m.done, 'cancelled', m.cancelled,
            'as_of', %(as_of_label)s::text
        ) AS status_distribution,
        jsonb_build_object(
            'productivity_score',
            round(greatest(0, m.completed_weight - %(overdue_penalty)s::numeric * m.went_overdue), 2),
            'days', %(active_days)s::integer,
            'as_of', %(as_of_label)s::text
        ) AS productivity_score
    FROM (
        SELECT
            t.user_id,
            count(*) AS total,
            count(*) FILTER (WHERE t.status = 'done') AS done,
            count(*) FILTER (WHERE t.status IN ('todo', 'in_progress')) AS open,
            count(*) FILTER (WHERE t.status = 'cancelled') AS cancelled,
            count(*) FILTER (
                WHERE t.status IN ('todo', 'in_progress') AND t.due_at < %(as_of)s::timestamptz
            ) AS overdue,
            count(*) FILTER (WHERE t.priority = 'low') AS p_low,
            count(*) FILTER (WHERE t.priority = 'medium') AS p_medium,
            count(*) FILTER (WHERE t.priority = 'high') AS p_high,
            count(*) FILTER (WHERE t.priority = 'urgent') AS p_urgent,
            count(*) FILTER (WHERE t.status = 'todo') AS s_todo,
            count(*) FILTER (WHERE t.status = 'in_progress') AS s_in_progress,
            coalesce(sum(
                CASE t.priority
                    WHEN 'low' THEN %(weight_low)s::numeric
                    WHEN 'medium' THEN %(weight_medium)s::numeric
                    WHEN 'high' THEN %(weight_high)s::numeric
                    ELSE %(weight_urgent)s::numeric
                END
            ) FILTER (WHERE t.completed_at >= %(since)s::timestamptz AND t.completed_at < %(as_of)s::timestamptz), 0)
                AS completed_weight,
            count(*) FILTER (
                WHERE
                t.due_at >= %(since)s::timestamptz
                AND t.due_at < %(as_of)s::timestamptz
                AND t.status <> 'cancelled'
                AND (t.completed_at IS NULL OR t.completed_at > t.due_at)
            ) AS went_overdue
        FROM tasks AS t
        WHERE NOT t.deleted AND t.user_id = any(%(user_ids)s)
        GROUP BY t.user_id
    ) AS m
) AS o
ORDER BY o.user_id
