"""
# Alert evaluator: every continuous rule, every minute, alerting like Alertmanager

The runbooks' thresholds are measured in minutes (runbook 001: the primary unreachable for 1 minute
is P0; 000: replica lag over 60 s, page after 30 minutes unresolved; 003: freshness over 10 minutes
critical, over 30 escalate; 004: the product's alert rules in `analytics_alert_rules`, "alert rule
failures over 10 an hour"). The morning health check judges them once a day; this DAG judges them
every minute and keeps each alert's state, so a condition is sent once when it fires, reminded,
escalated after a time, and sent once when it resolves.

**Schedule:** every minute, never two runs at once (`max_active_runs=1`; the task is stopped after
`alerting.evaluator.run_timeout`, 50 s). A minute is the runbooks' finest threshold ("unreachable
for 1 minute"); a longer interval would make every `pending_for` of a minute a two-minute one.

**What it does** (`evaluate_alert_rules`, one task, one short run):
1. **Product rules** (runbook 004): each active row of `analytics_alert_rules` sums its metric
   (`tx_count` or `gross_volume_local` of `txn_hourly_agg`) over its last `window_minutes`, of one
   merchant or all, and compares it with its threshold (`comparator`: `>`, `>=`, `<`, `<=`). A row
   that cannot be evaluated (unknown metric, a window out of range, a failing query, its own
   `notify_connection` refusing the message) is recorded in `ops.alert_rule_failures`.
2. **Ops rules** (`alerting.rules` in the config): each names a check of the suite's check framework
   (the health check's checks, `dag_failing`, `alert_rule_failures`, `txn_drift`, `txn_anomalies`,
   `txn_aggregation_lag`, the `usage_*` checks, `staging_kind_backlog`, `staging_age`,
   `ingest_merge`, `ingest_merge_batches`) and a condition on its grade (`when: warn | critical |
   unmeasurable`) or its number (`above` / `below`):

| rule | condition (shipped config) | severity |
|---|---|---|
| `primary_unreachable` | `postgres_reachable` cannot connect, for 1 min | P0 |
| `redis_unreachable` | `redis_reachable` cannot connect, for 1 min | P1 |
| `replica_lagging` | `replica_lag` critical (60 s / 64 MB, or the replica does not answer), for 1 min | P1 |
| `connections_high` | `postgres_connections` over 80 %, for 5 min | P2 |
| `freshness_lagging` | `usage_freshness` (per org and model) over 10 min; escalates 20 min later (30 min) | P1 |
| `staging_backlog_growing` | `staging_backlog` over 100k rows, for 10 min | P2 |
| `frequent_view_stale` | `mv_txn_daily_agg` not refreshed for 30 min | P2 |
| `dag_still_failing` | a suite DAG failing for 30 min with no success since | the DAG's + 1 |
| `alert_rules_failing` | over 10 failed product-rule evaluations in the last hour | P2 |
| `txn_aggregates_drifting` | the newest reconciliation found drift in `txn_hourly_agg`, not repaired | P2 |
| `txn_anomaly` | a merchant of the newest anomaly scan (analytics_txn_anomalies), once each | P2 |
| `txn_aggregation_lagging` | a wallet transaction waiting over 5 min for `txn_hourly_agg` | P2 |
| `usage_error_rate_high` | an org and model with over 5 % errors in the last 5 min (`usage_events`) | P1 |
| `usage_error_rate_spike` | an org and model whose error rate rose 3x within 15 min; starts its incident export | P1 |
| `usage_latency_p95_high` | an org and model with P95 over 2 s in the last 10 min | P2 |
| `usage_latency_p99_high` | an org and model with P99 over 5 s in the last 5 min | P1 |
| `usage_latency_spiking` | an org and model whose P95 rose 2x within 15 min | P2 |
| `staging_kind_backlog` | `staging_kind_backlog` over 100k rows of one kind, for 10 min | P2 |
| `staging_rows_waiting` | `staging_age`: a kind's oldest staged row waiting over 30 min | P2 |
| `ingest_merge_stalled` | `ingest_merge`: rows staged and no successful `analytics_ingest_merge` run for 15 min | P2 |
| `ingest_merge_batches_slow` | `ingest_merge_batches`: a merge batch over 10 s in a kind's newest run | P2 |

3. **State** (`ops.alerts`, one row per episode): active for the rule's `pending_for`: **pending**,
   then **firing**; inactive for `alerting.keep_firing_for` (5 min): **resolved**. Alerts are
   deduplicated by fingerprint (rule and labels, e.g. one per replica or per DAG). Firing sends one
   message; `alerting.repeat_interval` (4 h) later a reminder; `alerting.escalate_after` (30 min;
   a rule may set its own) unresolved, it is sent again **one severity up** to that severity's
   route (the paging channel); resolving sends one message. A flapping condition stays one firing
   alert. A check that cannot measure leaves its alerts as they are: the server being down is the
   `*_unreachable` rules' to say.
4. **Routes and silences**: each severity's Slack connection is `alerting.routes` (P0/P1
   `slack_oncall`, P2/P3 `slack_ops`); a product rule with `notify_connection` posts there (its
   route if that fails). `alerting.silences` mutes matching alerts until `ends_at`; they are still
   evaluated and stored, and sent if still firing when the silence ends.
5. **Incident exports** (runbook 003 Error Rate Spike: "export incident data immediately"): each
   firing alert of a rule in `incident_export.start_on_alerts` (`usage_error_rate_spike`) asks, once
   per firing, for an export of its organisation and model over `incident_export.alert_window` (20
   min) before it fired: a row of `ops.incident_exports` no run has taken yet. While such requests
   wait, the task emits an event of the Asset `incident_export_requests` (through the AssetAlias
   `incident_export_requests_from_alerts`), which runs `analytics_incident_export_on_alert`: the
   exports start by themselves. Airflow emits the event only when the task succeeds; a request whose
   event was lost is announced again by the next successful run.

While the primary does not answer, alert state is kept in the Airflow Variable
`analytics_ops_alert_state` (so `primary_unreachable` still goes pending, fires, reminds and
resolves) and merged into `ops.alerts` when the primary answers again; no export is asked for
until then (an alert still firing asks then).

**Where to look:** the Ops page lists what fires now; the morning digest lists the night's alerts;
`SELECT rule, labels, state, firing_since, value FROM ops.alerts WHERE state <> 'resolved';`;
`ops.alert_notifications` has every message sent or not delivered.

## When it fails (on call)
A failed run loses nothing: the state is saved before the task fails, and the next minute retries.
A broken evaluator alerts on its first failed run and then every 30th
(`dags.analytics_alert_evaluator.failed_run_alert_every`), not every minute.
- **`evaluate_alert_rules` failed**: *notification(s) not delivered*: Slack refused or did not answer
  on a route of the suite (`slack_oncall`, `slack_ops`); the alerts are on the Ops page and in
  `ops.alerts` meanwhile; check the webhook connection. *unknown check in alerting.rules*: the
  config names a check that does not exist (the DAG does not even parse). *incident exports of
  firing alerts not requested*: the alert state is saved and sent, but the export requests could not
  be written (migration 019 not applied: run the migrations); asked again next minute. Anything else:
  the primary answered but the evaluation broke (a migration not applied: `ops.alerts` missing; run
  the migrations), see the log.
"""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.sdk import dag, task

from analytics_ops.alerting import tasks as alerting
from analytics_ops.alerting.rules import validate_rules
from analytics_ops.core.assets import INCIDENT_EXPORT_REQUESTS_ALIAS
from analytics_ops.core.config import load_config
from analytics_ops.core.dag_defaults import suite_dag_args

DAG_ID = "analytics_alert_evaluator"
validate_rules(load_config())  # a rule naming a check that does not exist fails the parse, naming it


@dag(
    schedule="* * * * *",
    start_date=datetime(2020, 1, 1, tzinfo=UTC),
    max_active_runs=1,
    **suite_dag_args(DAG_ID, doc_md=__doc__),
)
def analytics_alert_evaluator():
    task(alerting.evaluate_alert_rules, outlets=[INCIDENT_EXPORT_REQUESTS_ALIAS]).override(
        execution_timeout=load_config().alerting.evaluator.run_timeout, max_active_tis_per_dag=1
    )()


analytics_alert_evaluator()
