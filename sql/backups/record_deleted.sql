-- Retention removed the backup's files.
UPDATE ops.backups
SET deleted_at = clock_timestamp()
WHERE backup_id = %(backup_id)s
