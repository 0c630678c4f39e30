-- Incident exports an alert asks for (incident_export.start_on_alerts): the continuous evaluator
-- records a request (run_id NULL: no run has taken it yet) for each firing of such an alert, once;
-- analytics_incident_export_on_alert takes the untaken requests into its run and exports them.
-- Rows of manual exports keep their run_id and get NULL alert columns.
ALTER TABLE ops.incident_exports
ADD COLUMN IF NOT EXISTS alert_rule text,
ADD COLUMN IF NOT EXISTS alert_fingerprint text,
ADD COLUMN IF NOT EXISTS alert_firing_since timestamptz,
ALTER COLUMN run_id DROP NOT NULL;

-- One run takes every request waiting: several rows of one run. A manual run still records one.
ALTER TABLE ops.incident_exports DROP CONSTRAINT IF EXISTS incident_exports_run_id_key;
CREATE UNIQUE INDEX IF NOT EXISTS incident_exports_manual_run_idx
ON ops.incident_exports (run_id) WHERE alert_fingerprint IS NULL;

-- One firing asks once, however many evaluations see it firing.
CREATE UNIQUE INDEX IF NOT EXISTS incident_exports_alert_firing_idx
ON ops.incident_exports (alert_fingerprint, alert_firing_since);

-- A manual export has its run; a request names its alert whole.
ALTER TABLE ops.incident_exports DROP CONSTRAINT IF EXISTS incident_exports_asked_by_check;
ALTER TABLE ops.incident_exports ADD CONSTRAINT incident_exports_asked_by_check CHECK (
    (alert_fingerprint IS NULL AND alert_rule IS NULL AND alert_firing_since IS NULL AND run_id IS NOT NULL)
    OR (alert_fingerprint IS NOT NULL AND alert_rule IS NOT NULL AND alert_firing_since IS NOT NULL)
);

-- The evaluator looks for the untaken requests every minute.
CREATE INDEX IF NOT EXISTS incident_exports_untaken_idx
ON ops.incident_exports (id) WHERE run_id IS NULL;
