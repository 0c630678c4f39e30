-- An export asked for by a firing alert (incident_export.start_on_alerts): pending, not taken by a run
-- yet (run_id NULL). One per firing: an alert seen firing again by the next evaluation asks nothing.
INSERT INTO ops.incident_exports (
    org_id, model_id, window_start, window_end, max_rows, alert_rule, alert_fingerprint, alert_firing_since
)
VALUES (
    %(org_id)s, %(model_id)s, %(start)s, %(end)s, %(max_rows)s, %(rule)s, %(fingerprint)s, %(firing_since)s
)
ON CONFLICT (alert_fingerprint, alert_firing_since) DO NOTHING
