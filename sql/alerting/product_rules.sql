-- Runbook 004's active product alert rules, as written (the evaluator validates each).
SELECT
    id,
    name,
    metric,
    window_minutes,
    comparator,
    threshold::float8 AS threshold,
    severity,
    merchant_id,
    notify_connection
FROM analytics_alert_rules
WHERE is_active
ORDER BY id
