"""
# Ingest merge: staged events folded into their rollups, every 5 minutes

Automates runbook 000's merge job: the ingest lands events in `analytics_events_stage` (one `kind`
per event type); this DAG folds them into `analytics_events_rollup` (events per kind and UTC hour of
arrival) in batches (runbook 000's `ANALYTICS_MERGE_BATCH`), so the staging backlog stays small.

**Schedule:** every 5 minutes, never two runs at once (`max_active_runs=1`).

**What it does** (`merge_staged_rows`, one task): for each kind, in turns of one batch each, up to
the kind's `batch_rows` oldest staged rows are deleted and added to their rollups, in **one
statement and one short transaction per batch** (rows another session holds, a second merge or an
operator's UPDATE, are skipped with `FOR UPDATE SKIP LOCKED` after a wait of at most 50 ms; rows an
ingest is still inserting are not seen; nobody waits on the merge): a run killed at any point and run again
loses no row and counts none twice. Ingest keeps writing meanwhile; rows staged after the run began
are the next run's. A run starts no batch after `ingest_merge.max_run_time` (10 min).

**The operator's levers, no deploy** (`analytics_merge_control`, one row per kind, read again
before every batch; a new kind gets a row with `ingest_merge.batch_rows` (50000) and
`ingest_merge.new_kinds_enabled`):
- stop a kind (runbook 000's kill switch; the run stops that kind at its next batch, its rows stay
  staged): `UPDATE analytics_merge_control SET enabled = false, note = 'INC-123' WHERE kind = 'page_view';`
- smaller batches when merges get stuck (runbook 000: 25000):
  `UPDATE analytics_merge_control SET batch_rows = 25000 WHERE kind = 'page_view';`

Each run's throughput per kind (rows, batches, seconds, slowest batch) is in `ops.ingest_merge_runs`:
`SELECT kind, rows_merged, batches, seconds, slowest_batch_seconds FROM ops.ingest_merge_runs ORDER BY
finished_at DESC LIMIT 10;`. The continuous evaluator alerts on the backlog by kind
(`staging_kind_backlog`), the oldest staged row (`staging_rows_waiting`), a merge that stopped
(`ingest_merge_stalled`) and slow batches (`ingest_merge_batches_slow`).

## When it fails (on call)
- **`merge_staged_rows` failed**: every batch before the failure is merged, the one that failed
  changed nothing; the next run goes on. *lock timeout*: another session holds rollup rows (a
  second merge by hand?): find it in `pg_stat_activity`. *statement timeout* (a batch over
  `ingest_merge.batch_statement_timeout`): the merge is stuck (runbook 000 *AnalyticsBufferGrowth*):
  capture `EXPLAIN (ANALYZE, BUFFERS)` of a batch, lower the kind's `batch_rows` to 25000 in
  `analytics_merge_control`, clear the task. *could not connect*: the primary is down (runbook 001 P0).
  To stop the merge of a kind while you look: `UPDATE analytics_merge_control SET enabled = false WHERE kind = '...';`.
"""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.sdk import dag, task

from analytics_ops.core.dag_defaults import suite_dag_args
from analytics_ops.ingest import tasks as ingest

DAG_ID = "analytics_ingest_merge"


@dag(
    schedule="*/5 * * * *",
    start_date=datetime(2020, 1, 1, tzinfo=UTC),
    max_active_runs=1,
    **suite_dag_args(DAG_ID, doc_md=__doc__),
)
def analytics_ingest_merge():
    task(ingest.merge_staged_rows)()


analytics_ingest_merge()
