-- The evaluator's alerts still in play: pending or firing, or resolved with the resolution not yet
-- delivered to Slack. Locked, so two evaluations never write the same alerts at once.
SELECT
    id,
    fingerprint,
    rule,
    labels,
    severity,
    state,
    active_since,
    last_seen,
    value,
    number,
    threshold,
    summary,
    advice,
    connection,
    detail,
    firing_since,
    resolved_at,
    escalated_at,
    notified,
    last_notified_at,
    silenced_by
FROM ops.alerts
WHERE state IN ('pending', 'firing') OR notified
ORDER BY id
FOR UPDATE
