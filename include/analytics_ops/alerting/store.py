"""Where alert state lives between evaluations: `ops.alerts` on the primary, or, while the primary does
not answer, an Airflow Variable.

The primary is the store (the Ops page and the morning digest read it), but "the primary is down" is
itself an alert that needs state (pending for a minute, then firing, reminders, resolved) and must
not need the primary. So while it is unreachable the open alerts the evaluator can still judge
(the primary's own reachability, Redis, ...) are kept in the Variable `analytics_ops_alert_state`,
which lives in Airflow's metadata database: every task reaches it, since a task that runs is one
Airflow could reach. The first evaluation that reaches the primary again merges them into
`ops.alerts` and deletes the Variable. Hand-written: Airflow has no store for a task's state between
runs other than Variables and XCom, and XCom of earlier runs is not meant to be read back.
"""

from __future__ import annotations

import json
from dataclasses import asdict, fields, replace
from datetime import datetime
from typing import Any

from analytics_ops.alerting.product_rules import PREFIX, RuleFailure
from analytics_ops.alerting.state import FIRING, PENDING, RESOLVED, Alert, Notification

FALLBACK_VARIABLE = "analytics_ops_alert_state"
_COLUMNS = [f.name for f in fields(Alert) if f.name != "id"]


def _alert_from_row(row: dict[str, Any]) -> Alert:
    return Alert(**{name: row[name] for name in (*_COLUMNS, "id")})


# --- the primary ----------------------------------------------------------------------------------


def load_open(conn: Any) -> list[Alert]:
    """Open alerts, and resolved ones whose resolution Slack has not been told yet."""
    from psycopg.rows import dict_row

    from analytics_ops.core.db import sql_file

    with conn.cursor(row_factory=dict_row) as cur:
        return [_alert_from_row(row) for row in cur.execute(sql_file("alerting/open_alerts")).fetchall()]


def save(conn: Any, alerts: list[Alert], dropped: list[Alert], now: datetime) -> list[Alert]:
    """Write the evaluation's alerts (upsert by id, or by open fingerprint) and drop cleared pending ones.

    Product rules also open and resolve their row in `analytics_alerts`, runbook 004's own table.
    """
    from psycopg.types.json import Jsonb

    from analytics_ops.core.db import sql_file

    saved = []
    with conn.cursor() as cur:
        for alert in dropped:
            if alert.id is not None:
                cur.execute("DELETE FROM ops.alerts WHERE id = %s AND state = 'pending'", (alert.id,))
        for alert in alerts:
            params = {name: getattr(alert, name) for name in _COLUMNS}
            params.update(labels=Jsonb(alert.labels), id=alert.id)
            statement = "alerting/update_alert" if alert.id is not None else "alerting/insert_alert"
            new_id = cur.execute(sql_file(statement), params).fetchone()[0]
            saved.append(replace(alert, id=new_id))
            if alert.rule.startswith(PREFIX):
                _product_alert_row(cur, alert, now)
    return saved


def _product_alert_row(cur: Any, alert: Alert, now: datetime) -> None:
    from analytics_ops.core.db import sql_file

    rule_id = int(alert.labels["rule_id"])
    if alert.state == FIRING and alert.firing_since == now:
        cur.execute(sql_file("alerting/open_product_alert"), {"rule_id": rule_id, "at": now})
    elif alert.state == RESOLVED and alert.resolved_at == now:
        cur.execute(sql_file("alerting/resolve_product_alert"), {"rule_id": rule_id, "at": now})


def record_notifications(conn: Any, sent: list[tuple[Notification, str, str | None]], now: datetime) -> None:
    from analytics_ops.core.db import sql_file

    with conn.cursor() as cur:
        cur.executemany(
            sql_file("alerting/record_notification"),
            [
                {
                    "fingerprint": note.alert.fingerprint,
                    "rule": note.alert.rule,
                    "kind": note.kind,
                    "severity": note.severity,
                    "connection": connection,
                    "sent_at": now,
                    "delivered": error is None,
                    "error": error,
                }
                for note, connection, error in sent
            ],
        )


def record_rule_failures(conn: Any, failures: list[RuleFailure], now: datetime) -> None:
    from analytics_ops.core.db import sql_file

    with conn.cursor() as cur:
        cur.executemany(
            sql_file("alerting/record_rule_failure"),
            [{"rule_id": f.rule_id, "rule_name": f.rule_name, "failed_at": now, "error": f.error} for f in failures],
        )


def record_heartbeat(conn: Any, *, now: datetime, duration_ms: float, rules: int, firing: int, failures: int) -> None:
    from analytics_ops.core.db import sql_file

    conn.execute(
        sql_file("alerting/heartbeat"),
        {"at": now, "duration_ms": duration_ms, "rules": rules, "firing": firing, "failures": failures},
    )


# --- the fallback while the primary is down -------------------------------------------------------


def _encode(alert: Alert) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in asdict(alert).items()}


def _decode(item: dict[str, Any]) -> Alert:
    values = dict(item)
    for f in fields(Alert):
        if f.name.endswith(("_since", "_seen", "_at")) and values.get(f.name):
            values[f.name] = datetime.fromisoformat(values[f.name])
    return Alert(**values)


def load_fallback() -> list[Alert]:
    from airflow.sdk import Variable

    raw = Variable.get(FALLBACK_VARIABLE, default=None)
    return [_decode(item) for item in json.loads(raw)] if raw else []


def save_fallback(alerts: list[Alert]) -> None:
    from airflow.sdk import Variable

    keep = [a for a in alerts if a.state in (PENDING, FIRING) or a.notified]
    Variable.set(FALLBACK_VARIABLE, json.dumps([_encode(a) for a in keep]), description=_DESCRIPTION)


def clear_fallback() -> None:
    from airflow.sdk import Variable

    Variable.delete(FALLBACK_VARIABLE)


def merge(stored: list[Alert], fallback: list[Alert]) -> list[Alert]:
    """The primary's open alerts with the fallback's newer state of the same fingerprints."""
    by_fingerprint = {a.fingerprint: a for a in stored if a.state != RESOLVED}
    merged = [a for a in stored if a.fingerprint not in {f.fingerprint for f in fallback} or a.state == RESOLVED]
    for alert in fallback:
        twin = by_fingerprint.get(alert.fingerprint)
        merged.append(replace(alert, id=twin.id if twin else None))
    return merged


_DESCRIPTION = (
    "analytics-ops: alert state kept by analytics_alert_evaluator while the analytics primary does not answer; "
    "merged into ops.alerts and deleted when it answers again. Do not edit."
)
