-- The newest analytics_ingest_merge run of each kind (ops.ingest_merge_runs), up to `now`.
SELECT DISTINCT ON (r.kind)
    r.kind,
    r.finished_at,
    r.rows_merged,
    r.batches,
    r.seconds,
    r.slowest_batch_seconds,
    r.batch_rows,
    r.stopped_by_switch
FROM ops.ingest_merge_runs AS r
WHERE r.finished_at <= %(now)s::timestamptz
ORDER BY r.kind ASC, r.finished_at DESC
