"""Config of runbook 000's ingest merge (analytics_ingest_merge): staged rows folded into their rollups."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field

from analytics_ops.core.config_types import Duration, _Strict


class IngestMergeSettings(_Strict):
    batch_rows: int = Field(50000, ge=1, le=1000000)
    """Rows per batch (runbook 000's ANALYTICS_MERGE_BATCH) of a kind that has no row in analytics_merge_control yet:
    the row the merge then adds for the kind starts with it. After that the row decides: an operator lowers it there
    without a deploy (runbook 000: 25000 when merges get stuck)."""
    new_kinds_enabled: bool = True
    """Whether a kind seen for the first time is merged (its new analytics_merge_control row's `enabled`). false: a
    new kind stays staged until an operator enables it."""
    batch_statement_timeout: Duration = timedelta(seconds=30)
    """Cap on one batch's statement (lock waits are capped by database.lock_timeout); a batch over it fails the task
    having changed nothing, and the retry goes on from there. Batches are meant to take under a second."""
    max_run_time: Duration = timedelta(minutes=10)
    """A run starts no new batch after this long, so a huge backlog is worked off over several runs (each recorded)
    instead of one run nobody sees the end of."""
