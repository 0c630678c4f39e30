-- One kind's share of a merge run: what it moved and how fast (the evaluator's ingest_merge checks).
INSERT INTO ops.ingest_merge_runs (
    run_id, kind, started_at, rows_merged, batches, seconds, slowest_batch_seconds, batch_rows, stopped_by_switch
)
VALUES (
    %(run_id)s, %(kind)s, %(started_at)s, %(rows_merged)s, %(batches)s, %(seconds)s, %(slowest_batch_seconds)s,
    %(batch_rows)s, %(stopped_by_switch)s
)
