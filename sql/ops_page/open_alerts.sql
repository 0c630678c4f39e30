-- What the alert evaluator has firing or pending now (the page orders them by the severity they
-- have now, escalated or not).
SELECT
    a.rule,
    a.labels,
    a.severity,
    a.escalated_at,
    a.state,
    a.active_since,
    a.firing_since,
    a.value,
    a.threshold,
    a.summary,
    a.silenced_by
FROM ops.alerts AS a
WHERE a.state IN ('pending', 'firing')
ORDER BY a.id ASC
