UPDATE ops.alerts
SET
    severity = %(severity)s,
    state = %(state)s,
    last_seen = %(last_seen)s,
    value = %(value)s,
    number = %(number)s,
    threshold = %(threshold)s,
    summary = %(summary)s,
    advice = %(advice)s,
    connection = %(connection)s,
    detail = %(detail)s,
    firing_since = %(firing_since)s,
    resolved_at = %(resolved_at)s,
    escalated_at = %(escalated_at)s,
    notified = %(notified)s,
    last_notified_at = %(last_notified_at)s,
    silenced_by = %(silenced_by)s,
    updated_at = clock_timestamp()
WHERE id = %(id)s
RETURNING id
