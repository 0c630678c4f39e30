"""The task body of analytics_usage_rollup."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from analytics_ops.core import tasks
from analytics_ops.core.config import load_config

# How far back a rebuild may reach: the rollups of a month are minutes of work, more is a backfill to plan.
REBUILD_MAX_DAYS = 31


def rebuild_since(params: dict[str, Any], now: datetime) -> datetime | None:
    """The `rebuild_since` param (empty: none); ParamError when it is not a time, in the future or too far back."""
    from analytics_ops.core.params import ParamError, blank, parse_instant

    value = params.get("rebuild_since")
    if blank(value):
        return None
    since = parse_instant("rebuild_since", value)
    if since > now:
        raise ParamError(f"rebuild_since {since:%Y-%m-%dT%H:%M:%SZ} is in the future (UTC now {now:%Y-%m-%dT%H:%M}Z)")
    if now - since > timedelta(days=REBUILD_MAX_DAYS):
        raise ParamError(
            f"rebuild_since {since:%Y-%m-%dT%H:%M:%SZ} is more than {REBUILD_MAX_DAYS} days back; "
            "rebuild a month at a time, newest first"
        )
    return since


def roll_up_usage() -> dict[str, Any]:
    """Recompute the hourly usage rollups new events arrived in; move the watermark freshness_status measures."""
    from analytics_ops.core.params import refused
    from analytics_ops.usage.rollup import freshness, roll_up

    with refused("rolled up"):
        since = rebuild_since(tasks.params(), datetime.now(UTC))
    settings = load_config().usage_rollup

    def work(conn: Any) -> Any:
        run = roll_up(conn, settings, rebuild_since=since)
        return run, freshness(conn)

    run, series = tasks.run_recorded(
        work,
        subject="usage_rollup_hourly",
        details=lambda r: r[0].record(),
        statement_timeout=settings.statement_timeout,
    )
    print(run)
    behind = [s for s in series if s[3] != "current"]
    worst = f"; most behind: {behind[0][0]}/{behind[0][1]} {behind[0][2]:.0f} s ({behind[0][3]})" if behind else ""
    print(f"freshness: {len(series) - len(behind)} of {len(series)} series current{worst}")
    return {**run.record(), "series_behind": len(behind)}
