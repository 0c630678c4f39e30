"""
# Stuck jobs and idle-in-transaction sessions

Automates runbook 002, *INC-003: Ingestion Job Stuck* (`UPDATE processing_jobs SET status =
'failed' ...` for jobs in `processing` over 30 minutes) and the idle-session cleanup of *INC-002:
Database Connection Exhausted* / runbook 001's P0 quick recovery, limited to sessions idle **in a
transaction** (they hold locks and block VACUUM; plain idle sessions are the pool's business).

**Schedule:** every 15 minutes.

**What it does**
- `fail_stuck_jobs`: jobs in `processing` for longer than `stuck_work.stuck_after` (30 min) are
  marked `failed`, `completed_at` set, `error_message` saying analytics-ops cancelled them and why.
- `terminate_idle_sessions`: client sessions of this database idle in a transaction for longer
  than `stuck_work.idle_in_transaction_limit` (10 min) are terminated with `pg_terminate_backend`,
  never the suite's own (`application_name` starting `analytics-ops`) nor those starting with an
  entry of `stuck_work.allow_applications`.
Both list exactly what they acted on (job ids; pid, user, application) in the log and
`ops.run_log`.

## When it fails (on call)
Nothing is half-done: each task is one statement. The next run, 15 minutes later, tries again.
- **`fail_stuck_jobs` failed**: *lock timeout*: the ingestion service holds those job rows (it may
  be finishing them); nothing to do unless it repeats for an hour, then runbook 002 INC-003.
  *could not connect*: the primary is unreachable: runbook 001, P0 *Database Down*.
- **`terminate_idle_sessions` failed**: *must be a member of the role*: the suite's role lacks
  `pg_signal_backend` (run `deploy/bootstrap.sh`); *could not connect*: as above. Until it runs,
  kill the worst session by hand: `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE
  state = 'idle in transaction' ORDER BY xact_start LIMIT 1;`.
- Many jobs failed in one run: the ingestion service is broken, not slow; runbook 002 INC-003
  (restart the data service, check its logs) before re-queueing them.
"""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.sdk import dag, task

from analytics_ops.core.dag_defaults import suite_dag_args
from analytics_ops.stuck_work import tasks as stuck_work

DAG_ID = "analytics_stuck_work"


@dag(
    schedule="*/15 * * * *",
    start_date=datetime(2020, 1, 1, tzinfo=UTC),
    max_active_runs=1,
    **suite_dag_args(DAG_ID, doc_md=__doc__),
)
def analytics_stuck_work():
    task(stuck_work.fail_stuck_jobs)()
    task(stuck_work.terminate_idle_sessions)()


analytics_stuck_work()
