-- The daily health check's hit-rate samples: this week's and the week before's.
SELECT
    check_name,
    count(*) FILTER (WHERE checked_at > %(checked_at)s::timestamptz - interval '7 days') AS samples,
    avg(numeric_value) FILTER (WHERE checked_at > %(checked_at)s::timestamptz - interval '7 days') AS avg_week,
    min(numeric_value) FILTER (WHERE checked_at > %(checked_at)s::timestamptz - interval '7 days') AS min_week,
    avg(numeric_value) FILTER (
        WHERE checked_at <= %(checked_at)s::timestamptz - interval '7 days'
    ) AS avg_week_before
FROM ops.health_check_results
WHERE
    dag_id = %(dag_id)s
    AND check_name IN ('buffer_cache_hit_ratio', 'redis_hit_rate')
    AND numeric_value IS NOT NULL
    AND checked_at > %(checked_at)s::timestamptz - interval '14 days'
    AND checked_at <= %(checked_at)s::timestamptz
GROUP BY check_name
