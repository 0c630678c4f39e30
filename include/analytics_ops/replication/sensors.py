"""Sensors that gate heavy work. Importable at DAG-parse time: database clients load in execute()."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from airflow.sdk import BaseSensorOperator
from airflow.sdk.exceptions import AirflowFailException, AirflowSensorTimeout


class ReplicaLagSensor(BaseSensorOperator):
    """Wait until every streaming replica of the primary is within the lag limits (seconds and bytes).

    Limits, replica connections and the no-replica policy come from `replication` in the config.
    Deferrable by default: after one look from the worker, the waiting happens in the triggerer
    and no worker slot is held. With `deferrable=False` it pokes in reschedule mode.
    When the wait runs out, the task fails without retrying and the error names each replica's
    measured lag, so the failure alert says how far behind it was.
    """

    template_fields = ()
    ui_color = "#d8e8f8"

    def __init__(self, *, deferrable: bool = True, primary_conn_id: str | None = None, **kwargs: Any) -> None:
        from analytics_ops.core.config import load_config

        settings = load_config().replication
        kwargs.setdefault("poke_interval", settings.poke_interval.total_seconds())
        kwargs.setdefault("timeout", settings.timeout.total_seconds())
        kwargs.setdefault("mode", "reschedule")
        super().__init__(**kwargs)
        self.deferrable = deferrable
        self.primary_conn_id = primary_conn_id
        self._last_summary = "not measured yet"

    def _settings(self) -> Any:
        from analytics_ops.core.config import load_config

        settings = load_config().replication
        return settings.model_copy(update={"poke_interval": timedelta(seconds=self.poke_interval)})

    def _primary(self) -> str:
        from analytics_ops.core.config import load_config

        return self.primary_conn_id or load_config().connections.primary

    def poke(self, context: Any) -> bool:
        from analytics_ops.replication.lag import measure

        verdict = measure(self._settings(), self._primary())
        self._last_summary = verdict.summary()
        self.log.info("%s", self._last_summary)
        return verdict.ok

    def execute(self, context: Any) -> Any:
        if not self.deferrable:
            try:
                return super().execute(context)
            except AirflowSensorTimeout:
                raise AirflowFailException(self._timeout_message(self._last_summary)) from None
        if self.poke(context):
            return self._last_summary
        from analytics_ops.replication.lag import ReplicaLagTrigger

        self.defer(
            trigger=ReplicaLagTrigger(
                primary_conn_id=self._primary(),
                settings=self._settings().model_dump(mode="json"),
                deadline=time.time() + self.timeout,
            ),
            method_name="execute_complete",
        )

    def execute_complete(self, context: Any, event: dict[str, Any]) -> str:
        if event.get("status") == "ok":
            self.log.info("%s", event["summary"])
            return event["summary"]
        raise AirflowFailException(self._timeout_message(event.get("summary", "no measurement")))

    def _timeout_message(self, summary: str) -> str:
        return f"gave up after {self.timeout:.0f} s waiting for replicas to catch up: {summary}"
