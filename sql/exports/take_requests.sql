-- analytics_incident_export_on_alert takes the untaken requests into its run: a request waiting
-- while another run takes it is skipped once that run commits (the row lock, then WHERE rechecked),
-- so no request is taken twice. The run's own requests not yet exported come back too, so a run
-- cleared and run again exports what it had taken (and not what it already exported).
WITH taken AS (
    UPDATE ops.incident_exports
    SET run_id = %(run_id)s
    WHERE run_id IS NULL AND alert_fingerprint IS NOT NULL
    RETURNING id
)

SELECT
    e.id,
    e.org_id,
    e.model_id,
    e.window_start,
    e.window_end,
    e.max_rows,
    e.alert_rule,
    e.alert_fingerprint,
    e.alert_firing_since
FROM ops.incident_exports AS e
WHERE
    e.id IN (SELECT taken.id FROM taken)
    OR (e.run_id = %(run_id)s AND e.alert_fingerprint IS NOT NULL AND e.status <> 'succeeded')
ORDER BY e.id
