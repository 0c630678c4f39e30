"""Assets the suite produces, so downstream DAGs can be scheduled on them.

The URI names the table through the suite's connection id rather than a host, so it stays the same
when the connection is pointed at another server.
"""

from __future__ import annotations

from airflow.sdk import Asset, AssetAlias

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

# Exports asked for by firing alerts (incident_export.start_on_alerts): rows of ops.incident_exports no
# run has taken. The evaluator emits an event of this Asset through the alias only when such requests
# wait, so analytics_incident_export_on_alert runs then, not after every evaluation (an Asset outlet
# would emit one every minute the evaluator succeeds).
INCIDENT_EXPORT_REQUESTS = Asset(
    name="incident_export_requests",
    uri="analytics-ops://analytics_db/ops/incident_exports",
    extra={
        "table": "ops.incident_exports",
        "written_by": "analytics_alert_evaluator (requests of firing alerts)",
        "read_by": "analytics_incident_export_on_alert",
    },
)
INCIDENT_EXPORT_REQUESTS_ALIAS = AssetAlias(name="incident_export_requests_from_alerts")
