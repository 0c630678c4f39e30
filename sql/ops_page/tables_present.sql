-- Which of the tables other parts of the suite create are there yet (NULL: not set up).
SELECT
    to_regclass('ops.backups') IS NOT NULL AS backups,
    to_regclass('ops.health_check_results') IS NOT NULL AS health_check_results,
    to_regclass('ops.incident_exports') IS NOT NULL AS exports,
    -- Migration 018's view and the watermark it reads.
    to_regclass('freshness_status') IS NOT NULL AND to_regclass('usage_rollup_watermark') IS NOT NULL AS usage_rollup,
    -- The alert evaluator's tables come from one migration (010): all of them, or not set up.
    (
        to_regclass('ops.alerts') IS NOT NULL
        AND to_regclass('ops.alert_evaluator_heartbeat') IS NOT NULL
        AND to_regclass('ops.alert_notifications') IS NOT NULL
        AND to_regclass('ops.alert_rule_failures') IS NOT NULL
    ) AS alerts
