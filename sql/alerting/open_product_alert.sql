-- Runbook 004's own record of a product rule firing (its "Alerts Not Firing" diagnosis reads it).
INSERT INTO analytics_alerts (rule_id, status, created_at)
SELECT
    %(rule_id)s,
    'open',
    %(at)s
WHERE NOT EXISTS (
    SELECT FROM analytics_alerts
    WHERE rule_id = %(rule_id)s AND status = 'open'
)
