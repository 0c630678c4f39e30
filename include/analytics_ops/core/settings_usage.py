"""Config of runbook 003's usage rollups (analytics_usage_rollup) and their freshness."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field

from analytics_ops.core.config_types import Duration, _Strict


class UsageRollupSettings(_Strict):
    late_arrival: Duration = timedelta(minutes=10)
    """How far behind its previous run each run looks again for events (by `received_at`): an event whose ingest
    transaction began before the previous run but committed after it is still rolled up. `received_at` is the
    ingest's time (the column's default, now()); an event written later with an older `received_at` than this is
    only picked up by a run with the `rebuild_since` param."""
    buckets_per_batch: int = Field(500, ge=1, le=100_000)
    """About this many hourly buckets (organisation, model, hour) recomputed per statement, in whole consecutive hours
    (an hour of every series is the least a statement reads), each statement its own short transaction: a first run
    over days of history is many short transactions, not one long one."""
    statement_timeout: Duration = timedelta(minutes=2)
    """Cap on one batch's statement (lock waits are capped by database.lock_timeout)."""
