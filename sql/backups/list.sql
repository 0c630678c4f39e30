-- Every backup not yet deleted, newest first.
SELECT
    backup_id,
    kind,
    location,
    started_at,
    finished_at,
    verified_at,
    size_bytes,
    manifest
FROM ops.backups
WHERE deleted_at IS NULL
ORDER BY started_at DESC
