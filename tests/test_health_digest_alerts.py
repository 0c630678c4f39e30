"""The daily digest's "Alerts in the last 24 h", read from the real ops.alerts and sent to the Slack stand-in.

The digest task runs here outside a DAG run: `send_digest` is given a task context of its own (a run
of `analytics_health_check` at NOW with no check task), so each test owns the moment the 24 h end at.
That the real DAG's digest carries the part is tests/test_health_checks.py's healthy run.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from psycopg import sql

from analytics_ops.core.config import load_config
from analytics_ops.health.digest import send_digest
from analytics_ops.health.digest_alerts import ALERTS_TITLE, PART_CHARS, alerts_part, compose_part

NOW = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)
TITLE = "Daily health check"


@pytest.fixture
def alerts(db) -> Iterator[Any]:
    """ops.alerts emptied for the test, and left empty."""
    db.execute("TRUNCATE ops.alerts")
    yield db
    db.execute("TRUNCATE ops.alerts")


def add_alert(db, rule: str, *, firing_since: datetime | None, resolved_at: datetime | None = None, **columns) -> None:
    """One episode as the evaluator writes it: pending (no firing_since), firing, or resolved."""
    row = {
        "fingerprint": f"{rule}-{firing_since}",
        "rule": rule,
        "labels": json.dumps(columns.pop("labels", {})),
        "severity": "P2",
        "state": "resolved" if resolved_at else ("firing" if firing_since else "pending"),
        "active_since": (firing_since or NOW) - timedelta(minutes=5),
        "firing_since": firing_since,
        "resolved_at": resolved_at,
        "last_seen": resolved_at or NOW,
        "value": f"{rule} value",
        "threshold": "> 1",
        "summary": "s",
        "advice": "a",
        **columns,
    }
    db.execute(
        sql.SQL("INSERT INTO ops.alerts ({}) VALUES ({})").format(
            sql.SQL(", ").join(map(sql.Identifier, row)), sql.SQL(", ").join(map(sql.Placeholder, row))
        ),
        row,
    )


@pytest.fixture
def digest_task(monkeypatch) -> None:
    """`send_digest` runs as the digest task of a health-check run at NOW that had no check task."""
    ti = SimpleNamespace(dag_id="analytics_health_check", run_id="scheduled__night", task_id="send_digest")
    monkeypatch.setattr("airflow.sdk.get_current_context", lambda: {"ti": ti, "logical_date": NOW})


def sent_digest(slack) -> dict[str, Any]:
    (digest,) = [m["payload"] for m in slack.messages if TITLE in m["payload"].get("text", "")]
    return digest


def alerts_section(digest: dict[str, Any]) -> str:
    sections = [b["text"]["text"] for b in digest["blocks"] if b["type"] == "section"]
    (part,) = [text for text in sections if text.startswith(f"*{ALERTS_TITLE}*")]
    assert part in digest["text"]  # the notification text says the same
    return part


def test_each_alert_firing_at_some_moment_of_the_24_h_is_listed_still_firing_first(alerts) -> None:
    h = timedelta(hours=1)
    add_alert(
        alerts, "dag_failing", firing_since=NOW - 3 * h, escalated_at=NOW - 2 * h,
        labels={"dag_id": "analytics_mv_refresh"}, value="3 failed runs",
    )  # fmt: skip
    add_alert(alerts, "replica_lag", firing_since=NOW - 10 * h, resolved_at=NOW - 9 * h, silenced_by="maint")
    add_alert(alerts, "redis_memory", firing_since=NOW - 72 * h, resolved_at=NOW - 23 * h)  # fired before the 24 h
    add_alert(alerts, "connections", firing_since=NOW - 26 * h, resolved_at=NOW - 25 * h)  # over before them
    add_alert(alerts, "long_queries", firing_since=None)  # pending: never fired
    add_alert(alerts, "freshness", firing_since=NOW + h)  # fired after the digest's moment
    # What happened after the digest's moment is not known to it: still firing, not escalated.
    add_alert(alerts, "staging_backlog", firing_since=NOW - h, resolved_at=NOW + h)
    add_alert(alerts, "stuck_jobs", firing_since=NOW - h / 3, escalated_at=NOW + h / 2, severity="P3")

    part = alerts_part(load_config(), now=NOW, application_name="aops-tests")

    assert part.splitlines() == [
        f"*{ALERTS_TITLE}*: 5 fired, 3 still firing",
        ":red_circle: [P1] *dag_failing{dag_id=analytics_mv_refresh}* (escalated from P2): "
        "firing since 2026-03-10 05:00 UTC, still firing; 3 failed runs _(condition: > 1)_",
        ":red_circle: [P2] *staging_backlog*: firing since 2026-03-10 07:00 UTC, still firing; "
        "staging_backlog value _(condition: > 1)_",
        ":red_circle: [P3] *stuck_jobs*: firing since 2026-03-10 07:40 UTC, still firing; "
        "stuck_jobs value _(condition: > 1)_",
        ":white_check_mark: [P2] *redis_memory*: firing since 2026-03-07 08:00 UTC, resolved 2026-03-09 09:00 UTC; "
        "redis_memory value _(condition: > 1)_",
        ":white_check_mark: [P2] *replica_lag*: firing since 2026-03-09 22:00 UTC, resolved 2026-03-09 23:00 UTC; "
        "replica_lag value _(condition: > 1)_ (silenced by maint)",
    ]


def test_a_quiet_night_says_so(alerts) -> None:
    add_alert(alerts, "connections", firing_since=NOW - timedelta(hours=30), resolved_at=NOW - timedelta(hours=25))
    assert alerts_part(load_config(), now=NOW, application_name="aops-tests") == f"*{ALERTS_TITLE}*: none fired"


def test_the_digest_task_sends_the_part_after_the_checks(alerts, digest_task, slack) -> None:
    add_alert(alerts, "replica_lag", firing_since=NOW - timedelta(hours=2), labels={"replica": "r1"})

    counts = send_digest(TITLE, [], with_alerts=True)

    assert counts == {"critical": 0, "warn": 0, "ok": 0}
    digest = sent_digest(slack)
    part = alerts_section(digest)
    assert part.splitlines()[1].startswith(":red_circle: [P2] *replica_lag{replica=r1}*: firing since")
    # After the checks, before the link to the run.
    assert [b["type"] for b in digest["blocks"]] == ["header", "section", "context"]
    assert digest["text"].splitlines()[-1] == (
        "<http://localhost:8080/dags/analytics_health_check/runs/scheduled__night|Open the run in Airflow>"
    )


def test_the_weekly_review_digest_has_no_alerts_part(alerts, digest_task, slack) -> None:
    add_alert(alerts, "replica_lag", firing_since=NOW - timedelta(hours=2))
    send_digest(TITLE, [])
    assert ALERTS_TITLE not in sent_digest(slack)["text"]


def test_the_digest_goes_out_before_ops_alerts_exists(alerts, digest_task, slack) -> None:
    alerts.execute("ALTER TABLE ops.alerts RENAME TO alerts_hidden_by_test")
    try:
        send_digest(TITLE, [], with_alerts=True)
    finally:
        alerts.execute("ALTER TABLE ops.alerts_hidden_by_test RENAME TO alerts")
    assert alerts_section(sent_digest(slack)) == (
        f"*{ALERTS_TITLE}*: :warning: could not be read: ops.alerts does not exist yet "
        "(the alert evaluator is not set up: migration 010)"
    )


def test_the_digest_goes_out_when_the_primary_does_not_answer(digest_task, slack, monkeypatch) -> None:
    with socket.socket() as sock:  # a loopback port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("AIRFLOW_CONN_ANALYTICS_DB", f'{{"conn_type": "postgres", "host": "127.0.0.1", "port": {port}}}')

    send_digest(TITLE, [], with_alerts=True)

    part = alerts_section(sent_digest(slack))
    assert part.startswith(
        f"*{ALERTS_TITLE}*: :warning: could not be read: the primary (analytics_db) could not be read: "
        "OperationalError: "
    ), part
    assert str(port) in part


def test_a_long_night_is_cut_to_one_slack_section_saying_how_many_more() -> None:
    rows = [
        {
            "rule": f"rule_{n:03}", "labels": {"item": "x" * 40}, "severity": "P2", "escalated_at": None,
            "firing_since": NOW - timedelta(hours=5), "resolved_at": None, "value": "v" * 60, "threshold": "> 1",
            "silenced_by": None,
        }
        for n in range(100)
    ]  # fmt: skip
    part = compose_part(rows)
    lines = part.splitlines()
    assert len(part) <= PART_CHARS
    assert lines[0] == f"*{ALERTS_TITLE}*: 100 fired, 100 still firing"
    listed = [line for line in lines if line.startswith(":red_circle:")]
    assert 10 < len(listed) < 100
    assert lines[-1] == f"... and {100 - len(listed)} more: see ops.alerts or the Ops page"
