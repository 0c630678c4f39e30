"""The suite's Slack notifiers, built on the Slack provider's `SlackWebhookNotifier`.

Imported only when a callback fires (never at DAG-parse time): the provider pulls in slack_sdk.
The provider sends; we decide the text and the webhook connection per severity (see `messages`).
Messages are composed in Python, not Jinja, so an error text containing `{{` cannot break rendering.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from airflow.providers.slack.notifications.slack_webhook import SlackWebhookNotifier

from analytics_ops.alerting.messages import TaskAlert, deadline_text, route_for, task_alert_text
from analytics_ops.alerting.outcomes import build_task_alert
from analytics_ops.core.config import SuiteConfig, load_config

SLACK_TIMEOUT_SECONDS = 10  # a message that Slack does not take in this long is retried by whoever sent it


def post(conn_id: str, text: str, blocks: list[dict[str, Any]] | None = None) -> None:
    """One message to the Slack webhook of connection `conn_id` (text, and Block Kit blocks if given)."""
    from airflow.providers.slack.hooks.slack_webhook import SlackWebhookHook

    if blocks is None:
        blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}]
    SlackWebhookHook(slack_webhook_conn_id=conn_id, timeout=SLACK_TIMEOUT_SECONDS).send(text=text, blocks=blocks)


def should_send(alert: TaskAlert, config: SuiteConfig) -> bool:
    """A failed run alerts when it is the 1st, (1+n)th, ... in a row (`failed_run_alert_every`: n)."""
    every = config.dag(alert.dag_id).failed_run_alert_every
    if alert.kind != "failure" or every == 1 or alert.failed_streak is None:
        return True
    return (alert.failed_streak - 1) % every == 0


class TaskAlertNotifier(SlackWebhookNotifier):
    """A task's first-retry warning or final-failure alert, routed by the DAG's severity."""

    template_fields = ()

    def __init__(self, *, kind: str, **kwargs: Any) -> None:
        super().__init__(text="", **kwargs)
        self.kind = kind

    def notify(self, context: Any) -> None:
        config = load_config()
        alert = build_task_alert(self.kind, context, config)
        if not should_send(alert, config):
            print(f"failure alert not sent: failed run {alert.failed_streak} in a row, alerts every "
                  f"{config.dag(alert.dag_id).failed_run_alert_every}")  # fmt: skip
            return
        # A retry warning or a refused run never pages: lowest severity's route, no mention.
        route = route_for(alert.severity if alert.kind == "failure" else "P3", config)
        self.slack_webhook_conn_id = route.connection
        self.text = task_alert_text(alert, route)
        self.blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": self.text[:3000]}}]
        super().notify(context)


def _as_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


class DeadlineMissNotifier(SlackWebhookNotifier):
    """A missed deadline (Airflow 3 deadline alert), run by the triggerer as an AsyncCallback.

    The triggerer constructs it with the callback's kwargs and a small context
    (`dag_run` as the REST API shows it, `deadline` with its time), then awaits it.
    """

    template_fields = ()

    def __init__(self, *, dag_id: str, severity: str, context: dict[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(text="", context=context, **kwargs)
        self.dag_id = dag_id
        self.severity = severity

    def _compose(self, context: dict[str, Any]) -> None:
        config = load_config()
        route = route_for(self.severity, config)
        dag_run = context.get("dag_run") or {}
        deadline = context.get("deadline") or {}
        text = deadline_text(
            dag_id=dag_run.get("dag_id", self.dag_id),
            run_id=dag_run.get("dag_run_id") or dag_run.get("run_id") or "unknown",
            severity=self.severity,
            route=route,
            deadline_time=_as_datetime(deadline.get("deadline_time")),
            now=datetime.now(UTC),
            state=dag_run.get("state"),
            base_url=config.airflow.base_url,
        )
        self.slack_webhook_conn_id = route.connection
        # Only ids and times go into this text, so it needs no redaction (and a connection lookup
        # for secrets would be a blocking call inside the triggerer's event loop).
        self.text = text
        self.blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": self.text[:3000]}}]

    async def async_notify(self, context: Any) -> None:
        self._compose(context)
        await super().async_notify(context)

    def notify(self, context: Any) -> None:
        self._compose(context)
        super().notify(context)
