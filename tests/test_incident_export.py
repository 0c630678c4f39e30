"""Runbook 003's incident export against the real stack: analytics_incident_export's CSV (the
runbook's columns in order, the window, the model filter, the row cap), its record and its Slack
link; refused params create nothing; the Ops page lists exports stuck or failed. Expected rows are
computed here in Python from the events planted."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.dag_runs import error_lines, test_run
from tests.test_maintenance_dags import parse, states

pytestmark = pytest.mark.airflow_run

START = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
RUNBOOK_COLUMNS = [
    "event_id", "org_id", "occurred_at", "received_at", "model_id", "actor_id", "input_tokens", "output_tokens",
    "latency_ms", "status", "error_code", "cost_estimate_cents", "metadata",
]  # fmt: skip


@pytest.fixture
def events(db):
    """120 events a minute apart from START - 10 min for org-a (models m1/m2 alternating), 30 for org-b."""
    db.execute("TRUNCATE usage_events, ops.incident_exports")
    rows = []
    for i in range(120):
        at = START - timedelta(minutes=10) + timedelta(minutes=i)
        status = "error" if i % 7 == 0 else "success"
        rows.append((str(uuid.UUID(int=i + 1)), "org-a", at, f"m{1 + i % 2}", None if i % 3 else f"user-{i}", i, 2 * i,
                     100 + i, status, "upstream_5xx" if status == "error" else None))  # fmt: skip
    for i in range(30):
        rows.append((str(uuid.UUID(int=1000 + i)), "org-b", START + timedelta(minutes=i), "m1", None, 1, 1, 50,
                     "success", None))  # fmt: skip
    with db.cursor() as cur:
        cur.executemany(
            "INSERT INTO usage_events (event_id, org_id, occurred_at, received_at, model_id, actor_id, input_tokens, "
            "output_tokens, latency_ms, status, error_code, cost_estimate_cents, metadata) "
            "VALUES (%s, %s, %s, %s + interval '2 seconds', %s, %s, %s, %s, %s, %s, %s, 0.5, '{\"k\": 1}')",
            [(e, o, at, at, m, a, i, out, lat, s, err) for e, o, at, m, a, i, out, lat, s, err in rows],
        )
    yield [dict(zip(("event_id", "org_id", "occurred_at", "model_id"), (r[0], r[1], r[2], r[3]), strict=True))
           for r in rows]  # fmt: skip
    db.execute("TRUNCATE usage_events, ops.incident_exports")


def export(**conf):
    return test_run(parse("analytics_incident_export"), run_conf=conf)


def exported_csv(db, run_id: str) -> tuple[list[dict], tuple]:
    from airflow.sdk import ObjectStoragePath

    row = db.execute(
        "SELECT status, exported_rows, exported_bytes, truncated, location FROM ops.incident_exports WHERE run_id = %s",
        (run_id,),
    ).fetchone()
    text = ObjectStoragePath(row[4]).read_text()
    reader = csv.DictReader(io.StringIO(text))
    return reader.fieldnames, list(reader), row, len(text.encode())


def test_an_export_has_the_runbooks_columns_in_order_the_window_and_the_link_in_slack(db, events, slack, capfd):
    end = START + timedelta(minutes=60)
    capfd.readouterr()
    run = export(org_id="org-a", start=START.isoformat(), end=end.isoformat().replace("+00:00", "Z"))
    assert run.state == "success", states(run)
    assert not error_lines(capfd.readouterr())  # a run that succeeded prints no line at error level
    header, rows, (status, count, size, truncated, location), text_bytes = exported_csv(db, run.run_id)
    assert header == RUNBOOK_COLUMNS
    expected = sorted((e for e in events if e["org_id"] == "org-a" and START <= e["occurred_at"] < end),
                      key=lambda e: (e["occurred_at"], e["event_id"]))  # fmt: skip
    assert [r["event_id"] for r in rows] == [e["event_id"] for e in expected] and len(rows) == 60
    assert (
        rows[0]["occurred_at"] == "2026-11-20T10:00:00.000000Z"
        and rows[0]["received_at"] == "2026-11-20T10:00:02.000000Z"
    )
    assert {r["org_id"] for r in rows} == {"org-a"} and {r["model_id"] for r in rows} == {"m1", "m2"}
    assert rows[0]["metadata"] == '{"k": 1}' and rows[0]["status"] in ("success", "error")
    assert (status, count, size, truncated) == ("succeeded", 60, text_bytes, False)
    assert location.endswith(".csv") and "/incident-exports/org-a/20261120T100000Z_20261120T110000Z_" in location
    (text,) = [t for t in slack.texts() if "Incident export" in t]
    assert "60 events" in text and location in text and "cut at" not in text


def test_the_model_filter_and_the_row_cap(db, events, slack):
    end = START + timedelta(minutes=60)
    run = export(org_id="org-a", model_id="m2", start=START.isoformat(), end=end.isoformat(), max_rows=7)
    assert run.state == "success", states(run)
    _, rows, (status, count, _, truncated, location), _ = exported_csv(db, run.run_id)
    m2 = sorted(
        (e for e in events if (e["org_id"], e["model_id"]) == ("org-a", "m2") and START <= e["occurred_at"] < end),
        key=lambda e: (e["occurred_at"], e["event_id"]),
    )
    assert len(m2) == 30 and [r["event_id"] for r in rows] == [e["event_id"] for e in m2[:7]]
    assert (status, count, truncated) == ("succeeded", 7, True) and "_m2_" in location
    assert any("7 events" in t and "cut at max_rows" in t for t in slack.texts())

    # Exactly max_rows events in the window: not cut.
    run = export(org_id="org-a", model_id="m2", start=START.isoformat(), end=end.isoformat(), max_rows=30)
    _, rows, (_, count, _, truncated, _), _ = exported_csv(db, run.run_id)
    assert (len(rows), count, truncated) == (30, 30, False)


HOUR = {"start": "2026-11-20T10:00:00Z", "end": "2026-11-20T11:00:00Z"}


@pytest.mark.parametrize(
    ("conf", "message"),
    [
        (HOUR, "org_id: give the organisation"),
        ({**HOUR, "org_id": "org/a"}, "'org/a' is not an id"),
        ({**HOUR, "org_id": "org-a", "start": "2026-11-20T10:00:00"}, "has no time zone"),
        ({**HOUR, "org_id": "org-a", "start": "yesterday"}, "is not an ISO 8601 time"),
        ({**HOUR, "org_id": "org-a", "start": "2026-11-20T11:00:00Z", "end": "2026-11-20T10:00:00Z"},
         "is not after start"),
        ({**HOUR, "org_id": "org-a", "end": "2099-01-01T00:00:00Z"}, "is in the future"),
        ({"org_id": "org-a", "start": "2026-10-01T00:00:00Z", "end": "2026-11-02T00:00:00Z"},
         "more than incident_export.max_days (31"),
        ({**HOUR, "org_id": "org-a", "max_rows": 0}, "max_rows: 0 is outside 1..1,000,000"),
        ({**HOUR, "org_id": "org-a", "max_rows": 2_000_000}, "outside 1..1,000,000"),
        ({**HOUR, "org_id": "org-a", "org": "x"}, "unknown key(s) in the run's conf: 'org'"),
    ],
)  # fmt: skip
def test_refused_params_create_nothing(db, events, slack, conf, message):
    from analytics_ops.backups.storage import destination_root
    from analytics_ops.core.config import load_config

    folder = destination_root(load_config().backups) / load_config().incident_export.folder
    before = sorted(str(p) for p in folder.rglob("*")) if folder.exists() else []
    run = export(**conf)
    assert run.state == "failed"
    assert states(run)["check_params"] == ["failed"] and states(run)["export_csv"] == ["upstream_failed"]
    assert db.execute("SELECT count(*) FROM ops.incident_exports").fetchone()[0] == 0
    assert (sorted(str(p) for p in folder.rglob("*")) if folder.exists() else []) == before
    assert any(message in t for t in slack.texts()), slack.texts()


def test_the_ops_page_lists_exports_stuck_pending_and_failed(db, events):
    from analytics_ops.core.config import load_config
    from analytics_ops.core.db import connect
    from analytics_ops.ops_page.overview import database_sections

    now = datetime.now(UTC)
    db.execute(
        "INSERT INTO ops.incident_exports (run_id, org_id, model_id, window_start, window_end, max_rows, status, "
        "requested_at, error) VALUES "
        "('stuck', 'org-a', NULL, %(s)s, %(e)s, 10, 'pending', %(now)s - interval '2 hours', NULL), "
        "('running', 'org-a', NULL, %(s)s, %(e)s, 10, 'pending', %(now)s - interval '1 minute', NULL), "
        "('broken', 'org-b', 'm1', %(s)s, %(e)s, 10, 'failed', %(now)s - interval '1 day', 'PermissionError: denied'), "
        "('old', 'org-b', NULL, %(s)s, %(e)s, 10, 'failed', %(now)s - interval '30 days', 'x'), "
        "('fine', 'org-b', NULL, %(s)s, %(e)s, 10, 'succeeded', %(now)s - interval '1 day', NULL)",
        {"s": START, "e": START + timedelta(hours=1), "now": now},
    )
    with connect(autocommit=True, application_name="analytics-ops:test") as conn:
        section = database_sections(conn, load_config(), now=now)["exports"]
    assert [(r["run_id"], r["stuck"]) for r in section.rows] == [("stuck", True), ("broken", False)]  # newest first
    assert "1 stuck pending over 30 min, 1 failed in the last 7 days" in section.note
    assert section.rows[1]["error"] == "PermissionError: denied"
