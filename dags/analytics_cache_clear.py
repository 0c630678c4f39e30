"""
# Cache clearing: the analytics cache, a merchant's live counters or a pattern (manual)

Automates runbook 004 *4. Clear Cache* (`redis-cli --scan --pattern 'analytics:*' | xargs redis-cli
DEL`, and the same for `live:merchant:MERCHANT_ID:*`) and the first step of *Emergency: Incorrect
Data Displayed*, without the runbook's `redis-cli FLUSHDB`, which empties the whole Redis database,
every other application's keys with it. This DAG only ever deletes keys under the suite's prefixes
(`cache.clearable_prefixes`: `analytics:`, `live:merchant:`).

**Schedule:** none; trigger it from the UI with params. **Dry run is on by default**: a run with the
defaults counts and shows what it would delete, and deletes nothing.

**Params**
- `scope`: `analytics` = the whole analytics cache (`cache.hygiene_pattern`, `analytics:*`: every
  key cache warming writes); `merchant` = one merchant's live counters (`cache.merchant_pattern`,
  `live:merchant:<id>:*`: merchant 1 is `live:merchant:1:*`, which never reaches merchant 12's
  `live:merchant:12:...`); `pattern` = the keys matching `pattern`.
- `merchant_id`: the merchant, a whole number of at least 1; only with scope `merchant` (refused
  with another scope).
- `pattern`: a Redis glob (`*`, `?`, `[...]`, `\\` escapes), only with scope `pattern`. It must begin
  with one of `cache.clearable_prefixes` written out in full, glob characters only after it:
  `analytics:overview:*`, `analytics:*:42`, `live:merchant:*` pass; `*`, `a*`, `[al]*`,
  `?nalytics:*`, `analytics*` (would reach `analyticsX`), `live:*` are refused, saying why.
- `dry_run` (default **on**): count and show; turn it off to delete.

**What it does**
1. `check_params`: every param is checked, and the one pattern they come to is checked against
   `cache.clearable_prefixes`, before Redis is reached; a bad one fails here (`ParamsRefused`, no
   retry, no page) with what to type instead, and nothing is touched.
2. `clear_keys`: `SCAN ... MATCH <pattern> COUNT <cache.scan_count>` (never `KEYS`, which blocks
   the server), and `UNLINK` (memory freed in the background) of what it finds, `cache.unlink_batch`
   keys per pipeline round trip. Prints the total and the first 20 keys; writes them, with the
   number unlinked, to `ops.run_log`. A dry run stops at counting. Keys written again while it runs
   (live counters keep counting) may survive or come back: clearing is a moment, not a state.

**Afterwards**: the API reads through to PostgreSQL until the cache fills again. After clearing the
analytics cache, trigger `analytics_cache_warming` to refill it now instead of on its next 6-hour run.
In *Emergency: Database Overload* (runbook 004 says "clear cache to reduce query load") know that a
cleared cache sends every read to the database until it is refilled: clear only the keys known to
be wrong (a merchant, a pattern), not the whole cache.

## When it fails (on call)
- **`check_params` failed**: the params were refused; the message says which one and what to type
  (a pattern outside the suite's prefixes, a `merchant_id` missing or given with the wrong scope).
  Nothing was deleted. Trigger again with corrected params.
- **`clear_keys` failed**: Redis is unreachable or refused a command (`redis-cli ping`, `redis-cli
  info`; runbook 001 *Issue: Cache Not Working*). The batches unlinked before the failure are gone,
  the rest are not: clearing again is safe, clear the task (its retry reports only what it unlinked
  itself; the failed try's log has the rest). If only the `ops.run_log` line failed (the primary is
  unreachable), the keys are already cleared.
"""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.sdk import Param, dag, task

from analytics_ops.cache import tasks as cache
from analytics_ops.cache.clearing import SCOPES
from analytics_ops.core.config import load_config
from analytics_ops.core.dag_defaults import suite_dag_args

DAG_ID = "analytics_cache_clear"
PREFIXES = ", ".join(load_config().cache.clearable_prefixes)


@dag(
    schedule=None,
    start_date=datetime(2020, 1, 1, tzinfo=UTC),
    max_active_runs=1,
    params={
        "scope": Param(
            "analytics",
            type="string",
            enum=list(SCOPES),
            title="What to clear",
            description="analytics: the whole analytics cache; merchant: one merchant's live counters; "
            "pattern: the keys matching a pattern.",
        ),
        "merchant_id": Param(
            None,
            type=["null", "integer"],
            minimum=1,
            title="Merchant id (scope merchant only)",
            description="The merchant whose live counters (live:merchant:<id>:*) to clear.",
        ),
        "pattern": Param(
            None,
            type=["null", "string"],
            title="Pattern (scope pattern only)",
            description=f"A Redis glob that begins with one of {PREFIXES} written out in full, "
            "e.g. analytics:overview:*",
        ),
        "dry_run": Param(
            True, type="boolean", title="Dry run", description="On: count and show what would be deleted. Off: delete."
        ),
    },
    **suite_dag_args(DAG_ID, doc_md=__doc__),
)
def analytics_cache_clear():
    task(cache.clear_keys)(task(cache.check_clear_params, task_id="check_params")())


analytics_cache_clear()
