"""The daily digest's part "Alerts in the last 24 h": the night's continuous alerts, for the morning routine.

Runbook 001's morning routine starts with what fired overnight. The continuous alert evaluator keeps
every alert episode in `ops.alerts` on the primary; this part lists each episode that was firing at
some moment of the 24 h before the digest's moment (the run's logical date, as for the checks), still
firing first: rule and labels, severity (one up, if it was escalated), since when, resolved when or
still firing, the value. Read straight from the table (SQL `health/alerts_in_window.sql`): health
does not import `alerting`, the table is the contract between them.

The digest must go out whatever happens here: a primary that does not answer, a table not there yet
(migration 010 not applied) or anything else that stops the read gives one line saying the alerts
could not be read, and why, in place of the list.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from analytics_ops.core.config import SuiteConfig
from analytics_ops.core.config_types import escalate

log = logging.getLogger(__name__)

ALERTS_LOOKBACK = timedelta(hours=24)
ALERTS_TITLE = "Alerts in the last 24 h"
CONNECT_TIMEOUT = 10  # seconds: a primary that is down delays the digest this long, no more
PART_CHARS = 2900  # the part is one Slack section (its text is capped at 3000)
LINE_CHARS = 500  # a long value cannot crowd out the other episodes


def read_alerts(config: SuiteConfig, *, now: datetime, application_name: str) -> list[dict[str, Any]]:
    from psycopg.rows import dict_row

    from analytics_ops.core.db import connect, sql_file

    timeout = config.health_check.statement_timeout
    with (
        connect(
            config.connections.primary,
            autocommit=True,
            statement_timeout=timeout,
            lock_timeout=min(timeout, config.database.lock_timeout),
            application_name=application_name,
            connect_timeout=CONNECT_TIMEOUT,
        ) as conn,
        conn.cursor(row_factory=dict_row) as cur,
    ):
        return cur.execute(sql_file("health/alerts_in_window"), {"now": now, "lookback": ALERTS_LOOKBACK}).fetchall()


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def alert_line(row: dict[str, Any]) -> str:
    labels = ", ".join(f"{key}={value}" for key, value in sorted((row["labels"] or {}).items()))
    name = f"{row['rule']}{{{labels}}}" if labels else row["rule"]
    if row["escalated_at"] is not None:
        severity = f"[{escalate(row['severity'])}] *{name}* (escalated from {row['severity']})"
    else:
        severity = f"[{row['severity']}] *{name}*"
    resolved = row["resolved_at"]
    mark = ":white_check_mark:" if resolved else ":red_circle:"
    ended = f"resolved {_when(resolved)}" if resolved else "still firing"
    line = f"{mark} {severity}: firing since {_when(row['firing_since'])}, {ended}; {row['value']}"
    line += f" _(condition: {row['threshold']})_"
    if row["silenced_by"]:
        line += f" (silenced by {row['silenced_by']})"
    return line[:LINE_CHARS]


def compose_part(rows: list[dict[str, Any]]) -> str:
    """The part's text: a headline, then one line per episode while they fit in one Slack section."""
    if not rows:
        return f"*{ALERTS_TITLE}*: none fired"
    still = sum(row["resolved_at"] is None for row in rows)
    text = f"*{ALERTS_TITLE}*: {len(rows)} fired, {still} still firing"
    for shown, row in enumerate(rows):
        line = alert_line(row)
        rest = len(rows) - shown
        more = f"\n... and {rest} more: see ops.alerts or the Ops page"
        if len(text) + 1 + len(line) + (len(more) if rest > 1 else 0) > PART_CHARS:
            return text + more
        text += "\n" + line
    return text


def alerts_part(config: SuiteConfig, *, now: datetime, application_name: str) -> str:
    """The part, or the line saying why the alerts could not be read: never raises."""
    from analytics_ops.core.errors import error_first_line
    from analytics_ops.core.redaction import redact, suite_secrets

    try:
        return compose_part(read_alerts(config, now=now, application_name=application_name))
    except Exception as exc:  # the digest goes out without the list, saying why, and the log has it
        import psycopg

        error = redact(error_first_line(exc), suite_secrets(config))
        log.warning("the digest's alerts could not be read: %s", error)
        if isinstance(exc, psycopg.errors.UndefinedTable):
            why = "ops.alerts does not exist yet (the alert evaluator is not set up: migration 010)"
        else:
            why = f"the primary ({config.connections.primary}) could not be read: {error}"
        return f"*{ALERTS_TITLE}*: :warning: could not be read: {why}"[:PART_CHARS]
