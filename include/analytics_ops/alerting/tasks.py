"""Task bodies of analytics_alert_evaluator."""

from __future__ import annotations

from typing import Any


def evaluate_alert_rules() -> dict[str, Any]:
    """Measure every continuous rule, advance each alert (pending, firing, resolved), send what is due."""
    from airflow.sdk.exceptions import AirflowFailException

    from analytics_ops.alerting.evaluator import evaluate, undelivered_on_suite_routes
    from analytics_ops.core import tasks
    from analytics_ops.core.config import load_config

    config = load_config()
    context = tasks._context()
    ti = context["ti"]
    # The run's scheduled minute, not the clock: every timing rule (pending_for, escalation, repeats)
    # counts whole minutes between runs, whenever a worker got to them.
    evaluation = evaluate(config, tasks.run_date(), dag_id=ti.dag_id, run_id=ti.run_id, task_id=ti.task_id)
    summary = evaluation.summary()
    print(
        f"evaluated {evaluation.rules} rule(s) at {summary['now']} in {summary['duration_ms']} ms "
        f"(state on the {evaluation.store}): {len(evaluation.firing)} firing, {len(evaluation.pending)} pending"
    )
    for kind in ("firing", "pending", "sent", "undelivered", "rule_failures"):
        for line in summary[kind]:
            print(f"  {kind}: {line}")
    _announce_export_requests(context, evaluation)
    lost = undelivered_on_suite_routes(evaluation, config)
    if lost:
        # The state is saved: the next minute sends them again. Failing shows it in the UI meanwhile.
        raise AirflowFailException(f"{len(lost)} notification(s) not delivered, retried next minute: {lost[0]}")
    if evaluation.export_error:
        raise AirflowFailException(
            f"incident exports of firing alerts not requested, asked again next minute: {evaluation.export_error}"
        )
    return summary


def _announce_export_requests(context: Any, evaluation: Any) -> None:
    # An event only while requests wait: analytics_incident_export_on_alert runs then and takes them all.
    # Airflow emits it only if this task succeeds; a lost one is announced again next minute.
    from analytics_ops.core.assets import INCIDENT_EXPORT_REQUESTS, INCIDENT_EXPORT_REQUESTS_ALIAS

    if evaluation.exports_asked:
        print(f"  asked {evaluation.exports_asked} incident export(s) for firing alerts")
    if evaluation.export_requests:
        context["outlet_events"][INCIDENT_EXPORT_REQUESTS_ALIAS].add(
            INCIDENT_EXPORT_REQUESTS, extra={"requests": evaluation.export_requests}
        )
        print(f"  announced export request(s) {evaluation.export_requests} to analytics_incident_export_on_alert")
