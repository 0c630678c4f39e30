-- The exports alerts asked for that no run has taken yet, oldest first.
SELECT id
FROM ops.incident_exports
WHERE run_id IS NULL AND alert_fingerprint IS NOT NULL
ORDER BY id
