"""Alerting: what the suite tells Slack when a task fails, retries or a run misses its deadline.

- `messages`: severities, routes, escalation, and the text of each alert (no Slack client);
- `outcomes`: each run's outcome in `ops.dag_run_outcomes` and the failure streak that escalates;
- `slack`: the notifiers that send, on the Slack provider's `SlackWebhookNotifier`;
- `callbacks`: the functions every DAG names through `core.dag_defaults`.

Imports go one way (callbacks -> slack -> outcomes -> messages -> core); see docs/alerting.md.
"""
