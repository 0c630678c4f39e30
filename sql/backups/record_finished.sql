-- The backup's files are complete and its manifest written.
UPDATE ops.backups
SET
    finished_at = clock_timestamp(),
    size_bytes = %(size_bytes)s,
    server_version = %(server_version)s,
    manifest = %(manifest)s::jsonb
WHERE backup_id = %(backup_id)s
