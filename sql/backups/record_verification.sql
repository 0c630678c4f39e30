-- The outcome of a verification: verified_at is set only when it passed.
UPDATE ops.backups
SET
    verified_at = CASE WHEN %(passed)s THEN clock_timestamp() END,
    verification = %(verification)s::jsonb
WHERE backup_id = %(backup_id)s
