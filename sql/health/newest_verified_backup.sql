-- The newest verified backup still kept (ops.backups, migration 007), and its age in seconds.
SELECT
    backup_id,
    kind,
    finished_at,
    verified_at,
    extract(EPOCH FROM clock_timestamp() - finished_at)::float8 AS age_seconds
FROM ops.backups
WHERE verified_at IS NOT NULL AND deleted_at IS NULL
ORDER BY finished_at DESC
LIMIT 1
