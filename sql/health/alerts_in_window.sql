-- Every alert episode that was firing at some moment of the %(lookback)s up to %(now)s (the morning
-- digest's "Alerts in the last 24 h"): fired by then, and not resolved before the window began.
-- What happened after %(now)s (a digest sent again later) is not shown: resolved or escalated
-- after it, the episode is still firing, unescalated, as of %(now)s. Still firing first, then in
-- the order they fired.
SELECT
    a.rule,
    a.labels,
    a.severity,
    a.firing_since,
    a.value,
    a.threshold,
    a.silenced_by,
    CASE WHEN a.escalated_at <= %(now)s::timestamptz THEN a.escalated_at END AS escalated_at,
    CASE WHEN a.resolved_at <= %(now)s::timestamptz THEN a.resolved_at END AS resolved_at
FROM ops.alerts AS a
WHERE
    a.firing_since <= %(now)s::timestamptz
    AND (a.resolved_at IS NULL OR a.resolved_at > %(now)s::timestamptz - %(lookback)s::interval)
ORDER BY
    (a.resolved_at IS NULL OR a.resolved_at > %(now)s::timestamptz) DESC,
    a.firing_since ASC,
    a.id ASC
