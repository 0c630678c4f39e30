"""Incident exports asked for by firing alerts (runbook 003 Error Rate Spike: "export incident data
immediately"; `incident_export.start_on_alerts`).

After an evaluation on the primary, each firing alert of such a rule asks for an export of its
organisation and model (its `item` label, `<org_id>/<model_id>`) over `incident_export.alert_window`
before it fired: a row of `ops.incident_exports` with no run yet, one per firing (the fingerprint
and `firing_since` are unique). The evaluator task then announces the untaken requests with an
Asset event (`core.assets.INCIDENT_EXPORT_REQUESTS`), which runs analytics_incident_export_on_alert.
Asset events are only emitted by a task that succeeds: a request whose announcement was lost stays
untaken and is announced again by the next successful evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from analytics_ops.alerting.state import FIRING, Alert
from analytics_ops.core.settings_exports import IncidentExportSettings


@dataclass(frozen=True)
class ExportAsked:
    rule: str
    fingerprint: str
    firing_since: datetime
    org_id: str
    model_id: str
    start: datetime
    end: datetime
    max_rows: int


def org_and_model(item: str | None) -> tuple[str, str] | None:
    """`<org_id>/<model_id>` split at the first `/` (a model id may hold more); None if not that shape."""
    org_id, slash, model_id = (item or "").partition("/")
    return (org_id, model_id) if slash and org_id and model_id else None


def exports_asked(alerts: list[Alert], settings: IncidentExportSettings) -> list[ExportAsked]:
    """The export each firing alert of `start_on_alerts` asks for (pure: no database)."""
    asked = []
    for alert in alerts:
        if alert.state != FIRING or alert.rule not in settings.start_on_alerts or alert.firing_since is None:
            continue
        parsed = org_and_model(alert.labels.get("item"))
        if parsed is None:  # the config allows only per-org/model checks; their "nothing to judge" has no item
            continue
        asked.append(
            ExportAsked(
                rule=alert.rule,
                fingerprint=alert.fingerprint,
                firing_since=alert.firing_since,
                org_id=parsed[0],
                model_id=parsed[1],
                start=alert.firing_since - settings.alert_window,
                end=alert.firing_since,
                max_rows=settings.default_max_rows,
            )
        )
    return asked


def request_exports(conn: Any, alerts: list[Alert], settings: IncidentExportSettings) -> tuple[int, list[int]]:
    """Record the exports the firing alerts ask for (once per firing); (how many are new, the ids of every
    request no run has taken yet). The caller commits."""
    from analytics_ops.core.db import sql_file

    new = 0
    with conn.cursor() as cur:
        for asked in exports_asked(alerts, settings):
            cur.execute(sql_file("exports/request_from_alert"), vars(asked))
            new += cur.rowcount
        untaken = [row[0] for row in cur.execute(sql_file("exports/untaken_requests")).fetchall()]
    return new, untaken
