INSERT INTO ops.alert_rule_failures (rule_id, rule_name, failed_at, error)
VALUES (%(rule_id)s, %(rule_name)s, %(failed_at)s, %(error)s)
