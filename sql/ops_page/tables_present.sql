-- Which of the tables other parts of the suite create are there yet (NULL: not set up).
SELECT
    to_regclass('ops.backups') IS NOT NULL AS backups,
    to_regclass('ops.health_check_results') IS NOT NULL AS health_check_results
