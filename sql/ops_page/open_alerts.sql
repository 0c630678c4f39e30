-- What the alert evaluator has firing or pending now: firing first, the most severe first, then
-- the longest-standing.
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
ORDER BY
    a.state = 'firing' DESC,
    a.severity ASC,
    coalesce(a.firing_since, a.active_since) ASC,
    a.id ASC
