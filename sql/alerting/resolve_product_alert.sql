UPDATE analytics_alerts
SET status = 'resolved', resolved_at = %(at)s
WHERE rule_id = %(rule_id)s AND status = 'open'
