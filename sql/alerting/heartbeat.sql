INSERT INTO ops.alert_evaluator_heartbeat (id, evaluated_at, duration_ms, rules, firing, rule_failures)
VALUES (TRUE, %(at)s, %(duration_ms)s, %(rules)s, %(firing)s, %(failures)s)
ON CONFLICT (id) DO UPDATE
    SET
        evaluated_at = excluded.evaluated_at,
        duration_ms = excluded.duration_ms,
        rules = excluded.rules,
        firing = excluded.firing,
        rule_failures = excluded.rule_failures
