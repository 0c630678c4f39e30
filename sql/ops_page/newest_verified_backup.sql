-- The newest backup that a restore has verified and that is still kept (no row: none), with how
-- many kept backups finished after it without being verified (yet, or ever).
SELECT
    b.backup_id,
    b.kind,
    b.location,
    b.started_at,
    b.finished_at,
    b.size_bytes,
    b.server_version,
    b.verified_at,
    b.dag_id,
    b.run_id,
    (
        SELECT count(*) FROM ops.backups AS n
        WHERE
            n.deleted_at IS NULL
            AND n.verified_at IS NULL
            AND n.finished_at > b.finished_at
    ) AS newer_unverified
FROM ops.backups AS b
WHERE b.verified_at IS NOT NULL AND b.deleted_at IS NULL
ORDER BY b.finished_at DESC
LIMIT 1
