-- Product rules that could not be evaluated in the hour up to %(now)s: how often, and the newest error.
SELECT
    rule_name,
    count(*) AS failures,
    (array_agg(error ORDER BY failed_at DESC))[1] AS newest_error
FROM ops.alert_rule_failures
WHERE failed_at > %(now)s::timestamptz - interval '1 hour' AND failed_at <= %(now)s::timestamptz
GROUP BY rule_name
ORDER BY failures DESC, rule_name ASC
