"""analytics-ops: the library behind the suite's DAGs, one package per domain, as `sql/` is.

DAG files only wire tasks; the work lives here so tests can call it without a scheduler. Each
domain's `tasks` module holds the task bodies of its DAGs (written with `core.tasks`); a domain
imports the core and what it really uses, nothing else:

| package | owns | DAGs |
|---|---|---|
| `core` | config, sessions (`db`, `redis`), task bodies, run log, params, DAG defaults | every DAG |
| `alerting` | Slack alerts by severity, escalation, deadlines | every DAG (callbacks) |
| `replication` | replica lag and the `wait_for_replicas` gate | the DAGs that write |
| `aggregation` | tasks -> `daily_analytics` | `analytics_daily_aggregation` |
| `cache` | Redis cache warming and hygiene, clearing on demand | `analytics_cache_warming`, `analytics_cache_clear` |
| `mv` | materialized view refreshes | `analytics_mv_refresh`, `analytics_mv_refresh_frequent` |
| `maintenance` | VACUUM, REINDEX, invalid-index sweep, deadlocks | `analytics_weekly_maintenance` |
| `archival` | old `daily_analytics` to the archive, statement history | `analytics_monthly_archival` |
| `retention` | retention policies | `analytics_retention_cleanup` |
| `stuck_work` | stuck jobs, idle-in-transaction sessions | `analytics_stuck_work` |
| `ingest` | staged events merged into rollups (runbook 000) | `analytics_ingest_merge` |
| `exports` | incident exports (runbook 003) | `analytics_incident_export`, `_on_alert` |
| `backups` | dumps, WAL, drills, restores | `analytics_backup_full`, `_incremental`, `analytics_restore` |
| `health` | the check framework and its checks, the digest | `analytics_health_check`, `analytics_weekly_review` |
| `ops_page` | the Analytics Ops page (API server) | |
| `demo` | demo data | |

`analytics-ops` (`cli`, also `python -m analytics_ops.cli`) runs the set-up work that is not a DAG:
config check, bootstrap, migrations, the DAG-folder file of `dag_folder` (the suite's DAGs in any
Airflow's DAG folder, from the installed package), demo data, pools.
Nothing in this package opens a connection or imports a database driver at import time.
"""
