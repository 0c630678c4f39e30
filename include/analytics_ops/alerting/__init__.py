"""Alerting: what the suite tells Slack, and when.

Task alerts (a task fails, retries, a run misses its deadline):
- `messages`: severities, routes, and the text of each alert (no Slack client);
- `outcomes`: each run's outcome in `ops.dag_run_outcomes` and the failed runs in a row;
- `slack`: the notifiers that send, on the Slack provider's `SlackWebhookNotifier`, and `post`;
- `callbacks`: the functions every DAG names through `core.dag_defaults`.

Continuous alerts (analytics_alert_evaluator, every minute):
- `rules`: the config's ops rules applied to checks of the check framework (`health.framework`);
- `checks`: the checks only the evaluator runs (`dag_failing`, `alert_rule_failures`);
- `product_rules`: runbook 004's `analytics_alert_rules`, validated and measured;
- `state`: pending/firing/resolved and what to send, pure functions of (alerts, verdicts, now);
- `store`: `ops.alerts`, or an Airflow Variable while the primary does not answer;
- `evaluator`: one evaluation; `tasks`: its task body;
- `export_requests`: the incident exports firing alerts ask for (`incident_export.start_on_alerts`).

See docs/alerting.md.
"""
