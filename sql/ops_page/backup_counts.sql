-- Backups kept, and how many of them a restore has verified.
SELECT
    count(*) AS kept,
    count(*) FILTER (WHERE b.verified_at IS NOT NULL) AS verified,
    max(b.finished_at) AS newest_finished_at
FROM ops.backups AS b
WHERE b.deleted_at IS NULL
