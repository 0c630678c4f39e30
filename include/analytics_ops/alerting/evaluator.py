"""One evaluation of every continuous rule: measure, advance the alert state, notify, store.

1. The product rules of `analytics_alert_rules` are measured in one statement on the primary; the
   rows that cannot be evaluated are recorded in `ops.alert_rule_failures` (committed at once, so the
   `alert_rule_failures` check of step 2 counts them).
2. Each ops rule's check is measured once (`rules.ops_verdicts`), each on its own session with the
   evaluator's short timeouts; a server that refused a connection is not asked again in this run.
3. In one transaction on the primary, the open alerts are locked and read, advanced by
   `state.step`, their notifications sent, and the new state, the notifications and the heartbeat
   written. Without the primary, the same happens on the fallback store (`store`), so the
   primary's own outage is alerted on.
4. On the primary, each firing alert of `incident_export.start_on_alerts` asks for an export of its
   window, once per firing (`export_requests`), in a transaction of its own: a failure there fails
   the run after the alert state is saved, and the next minute asks again. Without the primary,
   nothing is asked.

`now` is the evaluation's time, given by the caller (the run's scheduled minute in the DAG): every
timing rule follows it, which is how the tests move time without sleeping.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from analytics_ops.alerting.state import FIRING, PENDING, Alert, Notification, RuleVerdict, Step, Timing, step
from analytics_ops.core.config import SuiteConfig

log = logging.getLogger(__name__)


@dataclass
class Evaluation:
    now: datetime
    store: str = "primary"  # or "fallback": the primary did not answer
    rules: int = 0
    firing: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    sent: list[str] = field(default_factory=list)
    undelivered: list[str] = field(default_factory=list)
    rule_failures: list[str] = field(default_factory=list)
    exports_asked: int = 0  # export requests recorded by this evaluation
    export_requests: list[int] = field(default_factory=list)  # every request no run has taken yet
    export_error: str | None = None  # the requests could not be recorded or read
    duration_ms: float = 0.0

    def summary(self) -> dict[str, Any]:
        return {
            "now": self.now.isoformat(),
            "store": self.store,
            "rules": self.rules,
            "firing": self.firing,
            "pending": self.pending,
            "sent": self.sent,
            "undelivered": self.undelivered,
            "rule_failures": self.rule_failures,
            "exports_asked": self.exports_asked,
            "export_requests": self.export_requests,
            "export_error": self.export_error,
            "duration_ms": round(self.duration_ms, 1),
        }


def _product_timing(config: SuiteConfig) -> Timing:
    alerting = config.alerting
    return Timing(
        pending_for=timedelta(0),  # a product rule fires on its first evaluation over the threshold
        keep_firing_for=alerting.keep_firing_for,
        escalate_after=alerting.escalate_after,
        repeat_interval=alerting.repeat_interval,
    )


def silencer(config: SuiteConfig):
    def silenced_by(rule: str, labels: dict[str, str], now: datetime) -> str | None:
        return next((s.name for s in config.alerting.silences if s.mutes(rule, labels, now)), None)

    return silenced_by


def ops_page_url(config: SuiteConfig) -> str:
    from analytics_ops.core.config import OPS_PAGE_PATH

    return f"{config.airflow.base_url.rstrip('/')}{OPS_PAGE_PATH}/"


Outcome = tuple[Notification, str, str | None]  # the notification, the connection tried, the error or None


def deliver(notes: list[Notification], config: SuiteConfig, now: datetime) -> list[Outcome]:
    """Send each notification; (note, connection used, error or None) for each.

    A product rule's own webhook that fails is that rule's problem: the message goes to its
    severity's route instead (nothing is lost) and the failure is counted against the rule.
    """
    from analytics_ops.alerting.messages import continuous_alert_text, route_for
    from analytics_ops.alerting.slack import post
    from analytics_ops.core.errors import error_first_line
    from analytics_ops.core.redaction import redact, suite_secrets

    secrets = suite_secrets(config)
    outcomes = []
    for note in notes:
        route = route_for(note.severity, config)
        text = continuous_alert_text(note, route, now, ops_page_url(config))
        targets = [note.connection, route.connection] if note.connection else [route.connection]
        for target in targets:
            try:
                post(target, text)
                outcomes.append((note, target, None))
                break
            except Exception as exc:  # recorded, retried next minute; the task fails if the suite's route did
                error = redact(error_first_line(exc), secrets)
                log.warning("%s notification of %s not delivered through %s: %s", note.kind, note.alert.rule, target,
                            error)  # fmt: skip
                outcomes.append((note, target, error))
    return outcomes


def _apply_deliveries(result: Step, outcomes: list[Outcome], now: datetime) -> list[Alert]:
    from analytics_ops.alerting.state import after_delivery

    delivered = {id(note.alert): note for note, _, error in outcomes if error is None}
    return [after_delivery(a, delivered[id(a)], now) if id(a) in delivered else a for a in result.alerts]


def _product_unknown(open_alerts: list[Alert], timing: Timing) -> list[RuleVerdict]:
    from analytics_ops.alerting.product_rules import PREFIX

    rules = sorted({a.rule for a in open_alerts if a.rule.startswith(PREFIX)})
    return [RuleVerdict(rule, False, (), timing) for rule in rules]


def evaluate(
    config: SuiteConfig, now: datetime, *, dag_id: str, run_id: str, task_id: str, use_fallback: bool = True
) -> Evaluation:
    """One evaluation (see the module docstring).

    `use_fallback`: keep state in the Airflow Variable while the primary is down. Only a task can
    reach Airflow's Variables; a caller outside a task (a benchmark) passes False and then an
    unreachable primary fails the evaluation.
    """
    from analytics_ops.health.framework import CheckContext

    settings = config.alerting.evaluator
    ctx = CheckContext(
        config=config,
        dag_id=dag_id,
        run_id=run_id,
        task_id=task_id,
        as_of=now,
        checked_at=now,
        statement_timeout=settings.statement_timeout,
        connect_timeout=max(1, int(settings.connect_timeout.total_seconds())),
        keep_sessions=True,
    )
    try:
        return _evaluate(ctx, config, now, use_fallback)
    finally:
        ctx.close_sessions()


def _evaluate(ctx: Any, config: SuiteConfig, now: datetime, use_fallback: bool) -> Evaluation:
    from analytics_ops.alerting import store
    from analytics_ops.alerting.product_rules import RuleFailure, product_verdicts
    from analytics_ops.alerting.rules import ops_verdicts
    from analytics_ops.core.errors import error_first_line

    started = time.perf_counter()
    settings = config.alerting.evaluator
    evaluation = Evaluation(now=now)
    product: list[RuleVerdict] | None = [] if not settings.product_rules else None
    failures: list[RuleFailure] = []
    if settings.product_rules:
        try:
            with ctx.primary() as conn:
                product, failures = product_verdicts(conn, now, _product_timing(config))
                store.record_rule_failures(conn, failures, now)
        except Exception as exc:  # the primary is down (its own rule says so) or the rules table is unreadable
            log.warning("product rules not evaluated: %s", error_first_line(exc))
            product = None
    evaluation.rule_failures = [f"{f.rule_name}: {f.error}" for f in failures]
    verdicts = ops_verdicts(ctx, config) + (product or [])
    evaluation.rules = len(verdicts)

    def advance(open_alerts: list[Alert]) -> tuple[Step, list[Alert], list[Outcome]]:
        all_verdicts = verdicts
        if product is None:  # not measured: their alerts are unknown, not gone
            all_verdicts = verdicts + _product_unknown(open_alerts, _product_timing(config))
        result = step(open_alerts, all_verdicts, now, silencer(config))
        outcomes = deliver(result.notifications, config, now)
        return result, _apply_deliveries(result, outcomes, now), outcomes

    try:
        with ctx.primary() as conn:
            fallback = store.load_fallback() if use_fallback else []
            open_alerts = store.merge(store.load_open(conn), fallback)
            result, alerts, outcomes = advance(open_alerts)
            alerts = store.save(conn, alerts, result.dropped, now)
            store.record_notifications(conn, outcomes, now)
            webhook_failures = _own_webhook_failures(outcomes)
            store.record_rule_failures(conn, webhook_failures, now)
            failures = failures + webhook_failures
            evaluation.duration_ms = (time.perf_counter() - started) * 1000
            store.record_heartbeat(
                conn,
                now=now,
                duration_ms=evaluation.duration_ms,
                rules=evaluation.rules,
                firing=sum(a.state == FIRING for a in alerts),
                failures=len(failures),
            )
        if fallback:
            store.clear_fallback()
    except Exception as exc:
        if not use_fallback or config.connections.primary not in ctx.unreachable:
            raise  # the primary answered and something else broke: a failed run, not a fallback
        log.warning("the primary does not answer (%s): alert state kept in Airflow", error_first_line(exc))
        evaluation.store = "fallback"
        result, alerts, outcomes = advance(store.load_fallback())
        store.save_fallback(alerts)
    if evaluation.store == "primary" and config.incident_export.start_on_alerts:
        _request_exports(ctx, config, alerts, evaluation)
    evaluation.firing = sorted(_name(a) for a in alerts if a.state == FIRING)
    evaluation.pending = sorted(_name(a) for a in alerts if a.state == PENDING)
    evaluation.sent = [f"{n.kind} {_name(n.alert)} -> {target}" for n, target, error in outcomes if error is None]
    evaluation.undelivered = [f"{n.kind} {_name(n.alert)} -> {target}: {e}" for n, target, e in outcomes if e]
    evaluation.duration_ms = (time.perf_counter() - started) * 1000
    return evaluation


def _request_exports(ctx: Any, config: SuiteConfig, alerts: list[Alert], evaluation: Evaluation) -> None:
    from analytics_ops.alerting.export_requests import request_exports
    from analytics_ops.core.errors import error_first_line

    try:
        with ctx.primary() as conn:
            evaluation.exports_asked, evaluation.export_requests = request_exports(conn, alerts, config.incident_export)
    except Exception as exc:  # the alert state is saved; the task fails and the next minute asks again
        log.warning("incident exports of firing alerts not requested: %s", error_first_line(exc))
        evaluation.export_error = error_first_line(exc)


def _own_webhook_failures(outcomes: list[Outcome]) -> list[Any]:
    from analytics_ops.alerting.product_rules import PREFIX, RuleFailure

    return [
        RuleFailure(int(note.alert.labels["rule_id"]), note.alert.rule[len(PREFIX) :], f"notify_connection: {error}")
        for note, target, error in outcomes
        if error and note.connection == target and note.alert.rule.startswith(PREFIX)
    ]


def _name(alert: Alert) -> str:
    labels = ",".join(f"{k}={v}" for k, v in sorted(alert.labels.items()))
    return f"{alert.rule}{{{labels}}}" if labels else alert.rule


def undelivered_on_suite_routes(evaluation: Evaluation, config: SuiteConfig) -> list[str]:
    """Messages that no route of the suite took (a product rule's own webhook failing is not one)."""
    routes = {route.connection for route in config.alerting.routes.values()}
    return [line for line in evaluation.undelivered if line.split(" -> ", 1)[1].split(":", 1)[0] in routes]
