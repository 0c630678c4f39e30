-- The alert evaluator's newest evaluation (NULLs: it has not run yet), and in the hour up to
-- %(now)s the notifications it could not deliver and the product rules it could not evaluate.
WITH undelivered AS (
    SELECT count(*) AS n
    FROM ops.alert_notifications AS a
    WHERE
        NOT a.delivered
        AND a.sent_at > %(now)s::timestamptz - interval '1 hour'
        AND a.sent_at <= %(now)s::timestamptz
),

failures AS (
    SELECT count(*) AS n
    FROM ops.alert_rule_failures AS f
    WHERE
        f.failed_at > %(now)s::timestamptz - interval '1 hour'
        AND f.failed_at <= %(now)s::timestamptz
)

SELECT
    h.evaluated_at,
    h.duration_ms,
    h.rules,
    h.firing,
    h.rule_failures,
    undelivered.n AS undelivered_last_hour,
    failures.n AS rule_failures_last_hour
FROM undelivered
CROSS JOIN failures
LEFT JOIN ops.alert_evaluator_heartbeat AS h ON TRUE
