INSERT INTO ops.alert_notifications (fingerprint, rule, kind, severity, connection, sent_at, delivered, error)
VALUES (
    %(fingerprint)s, %(rule)s, %(kind)s, %(severity)s, %(connection)s, %(sent_at)s, %(delivered)s, %(error)s
)
