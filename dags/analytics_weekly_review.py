"""
# Weekly review: slow statements, sizes and growth, bloat, unused indexes, hit rates

Automates runbook 001's *Weekly Health Check* (Monday morning) and runbook 002's weekly checklist:
the review a person used to assemble by hand, as one Slack message.

**Schedule:** Mondays 07:00 UTC, before the daily health check.

**What it does.** Each `review_*` task measures and grades like the daily health check
(`analytics_health_check`), but a finding is only ever a **warning**: nothing here pages.
Thresholds are under `weekly_review` (and `maintenance` for dead tuples and index bloat).

| task | reviews |
|---|---|
| `review_slow_statements` | `pg_stat_statements` of this database with a mean over 1 s, slowest first (top 10) |
| `review_sizes` | table and index sizes, kept in `ops.table_size_history`; growth since a week ago (warn +20%) |
| `review_dead_tuples` | dead-tuple ratio per table (the weekly maintenance's thresholds) |
| `review_bloat` | estimated bloat: tables by `pgstattuple_approx` (dead + free), b-tree indexes by `pgstatindex` |
| `review_unused_indexes` | non-unique indexes of 1 MB or more never scanned since statistics were reset |
| `review_cache_hit_rates` | the week's buffer-cache and Redis hit rates from the daily checks, vs the week before |

Results go to `ops.health_check_results` (this DAG's id), and `send_digest` (runs whatever the
reviews did) posts them to Slack, worst first, with a link to the run. `all_reviews_done` does
nothing itself: it is upstream-failed when a review could not measure, which marks the run failed.

## When it fails (on call)
Nothing in the review fails a task by itself; a failed task means it could not measure:
- **`review_slow_statements`**: is `pg_stat_statements` in `shared_preload_libraries` and the extension
  created (migration 006)?
- **`review_sizes`**: the primary was unreachable or a statement timed out (`health_check.statement_timeout`);
  clear the task.
- **`review_dead_tuples`**, **`review_unused_indexes`**, **`review_cache_hit_rates`**: the primary was
  unreachable; clear the task.
- **`review_bloat`**: needs the `pgstattuple` extension (migration 006); on a very large database raise
  `health_check.statement_timeout`.
- **`send_digest`**: Slack refused the message; results are in `ops.health_check_results`. Clear the task.
"""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.sdk import dag

from analytics_ops.core.dag_defaults import suite_dag_args
from analytics_ops.health.dag import check_tasks
from analytics_ops.health.weekly_review import WEEKLY_CHECKS

DAG_ID = "analytics_weekly_review"


@dag(
    schedule="0 7 * * 1",
    start_date=datetime(2020, 1, 1, tzinfo=UTC),
    max_active_runs=1,
    **suite_dag_args(DAG_ID, doc_md=__doc__),
)
def analytics_weekly_review():
    check_tasks(
        WEEKLY_CHECKS,
        digest_title="Weekly review",
        done_task_id="all_reviews_done",
        done_message="every review measured (findings, if any, are in the digest)",
    )


analytics_weekly_review()
