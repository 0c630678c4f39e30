-- The newest verified backup still kept of each kind (ops.backups, migration 007), and its age in
-- seconds: each kind is judged against its own schedule (a fresh weekly base backup must not hide a
-- failing daily full dump). A kind never catalogued has no row.
SELECT DISTINCT ON (b.kind)
    b.kind,
    b.backup_id,
    b.finished_at,
    b.verified_at,
    extract(EPOCH FROM clock_timestamp() - b.finished_at)::float8 AS age_seconds
FROM ops.backups AS b
WHERE b.verified_at IS NOT NULL AND b.deleted_at IS NULL
ORDER BY b.kind ASC, b.finished_at DESC
