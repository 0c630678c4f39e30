"""Runbook 000's ingest (Postgres-only: staging tables merged into rollups).

- `merge`: analytics_ingest_merge's work: each kind's staged rows of analytics_events_stage folded into
  analytics_events_rollup in batches, one short transaction each (`FOR UPDATE SKIP LOCKED`, delete-returning
  into an upsert), behind the per-kind kill switch and batch size of analytics_merge_control, each run's
  throughput recorded in ops.ingest_merge_runs;
- `tasks`: the task body of analytics_ingest_merge.
"""
