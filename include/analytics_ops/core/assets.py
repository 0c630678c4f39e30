"""Assets the suite produces, so downstream DAGs can be scheduled on them.

The URI names the table through the suite's connection id rather than a host, so it stays the same
when the connection is pointed at another server.
"""

from __future__ import annotations

from airflow.sdk import Asset

DAILY_ANALYTICS = Asset(
    name="daily_analytics",
    uri="analytics-ops://analytics_db/public/daily_analytics",
    extra={"table": "public.daily_analytics", "written_by": "analytics_daily_aggregation"},
)

TXN_HOURLY_AGG = Asset(
    name="txn_hourly_agg",
    uri="analytics-ops://analytics_db/public/txn_hourly_agg",
    extra={
        "table": "public.txn_hourly_agg",
        "written_by": "analytics_txn_backfill, analytics_txn_reconciliation (repairs)",
        "read_by": "mv_txn_daily_agg (analytics_mv_refresh_frequent)",
    },
)
