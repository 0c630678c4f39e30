"""Runbook 003's Error Rate Spike: "export incident data immediately", against the real stack. A spike
planted for one organisation and model fires `usage_error_rate_spike` in the evaluator (its DAG, through
dag.test, so the Asset event it emits is checked); the firing asks for one export of the alert's window,
however many evaluations see it firing; analytics_incident_export_on_alert takes it and writes the CSV
of exactly that window's events of that organisation and model, and posts the link; run again, it
exports nothing. An alert of a rule not in `incident_export.start_on_alerts` asks for nothing."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from analytics_ops.core.config import DEFAULT_CONFIG_PATH, parse_config
from tests.dag_runs import error_lines, test_run
from tests.test_maintenance_dags import states

pytestmark = pytest.mark.airflow_run

DAGS = Path(__file__).parents[1] / "dags"
T0 = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)  # the first evaluation: the spike fires then
RULES = ("usage_error_rate_spike", "usage_error_rate_high")


def dag(dag_id: str):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS / f"{dag_id}.py")).get_dag(dag_id)


def plan() -> list[tuple]:
    """(org, model, occurred_at, status): 400 events 3 s apart over the 20 minutes before T0 per series."""
    rows = []

    def series(org, model, every_error_recent, every_error_before):
        for i in range(400):
            at = T0 - timedelta(minutes=20) + timedelta(seconds=3 * i)
            every = every_error_recent if at >= T0 - timedelta(minutes=5) else every_error_before
            rows.append((org, model, at, "error" if every and i % every == 0 else "success"))

    series("org-a", "m1", 10, 100)  # 1 % errors, then 10 % in the last 5 minutes: the spike
    series("org-a", "m2", 50, 50)  # the same organisation, another model, steady: not exported
    series("org-c", "m1", 10, 10)  # 10 % throughout: usage_error_rate_high fires, no spike
    # org-a/m1 outside the spike's window: before it, and after the alert fired.
    rows += [("org-a", "m1", T0 - timedelta(minutes=20, seconds=1 + i), "error") for i in range(5)]
    rows += [("org-a", "m1", T0 + timedelta(seconds=i), "success") for i in range(5)]
    return rows


@pytest.fixture
def spike(db, override_config, slack):
    shipped = parse_config(DEFAULT_CONFIG_PATH.read_text(), DEFAULT_CONFIG_PATH)
    rules = [r.model_dump(mode="json") for r in shipped.alerting.rules if r.name in RULES]
    override_config(
        {
            "alerting": {"rules": rules, "evaluator": {"product_rules": False}},
            "incident_export": {"start_on_alerts": ["usage_error_rate_spike"], "alert_window": "20m"},
            "dag_defaults": {"retries": 0},
        }
    )
    tables = "usage_events, ops.alerts, ops.alert_notifications, ops.alert_evaluator_heartbeat, ops.incident_exports"
    db.execute(f"TRUNCATE {tables}")
    rows = [(str(uuid.uuid4()), *row) for row in plan()]
    with db.cursor() as cur:
        cur.executemany(
            "INSERT INTO usage_events (event_id, org_id, model_id, occurred_at, status, latency_ms) "
            "VALUES (%s, %s, %s, %s, %s, 100)",
            rows,
        )
    yield rows
    db.execute(f"TRUNCATE {tables}")


def evaluate_at(minutes: int):
    """One evaluator run (dag.test) at T0 + minutes; its Asset events' extras."""
    run = test_run(dag("analytics_alert_evaluator"), logical_date=T0 + timedelta(minutes=minutes))
    assert run.state == "success", states(run)
    return asset_events(run)


def asset_events(run) -> list[tuple]:
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        events = session.scalars(
            select(AssetEvent).where(AssetEvent.source_dag_id == run.dag_id, AssetEvent.source_run_id == run.run_id)
        ).all()
        return [(e.asset.name, e.extra) for e in events]


def requests(db) -> list[tuple]:
    return db.execute(
        "SELECT id, alert_rule, org_id, model_id, window_start, window_end, max_rows, run_id, status "
        "FROM ops.incident_exports ORDER BY id"
    ).fetchall()


def test_a_firing_spike_exports_its_window_once(db, spike, slack, capfd):
    from airflow.sdk import ObjectStoragePath

    from analytics_ops.alerting.state import fingerprint

    announced = evaluate_at(0)
    heads = sorted(t.split("*")[1] for t in slack.texts())
    assert heads == ["[P1] FIRING: usage_error_rate_high{item=org-a/m1}",
                     "[P1] FIRING: usage_error_rate_high{item=org-c/m1}",
                     "[P1] FIRING: usage_error_rate_spike{item=org-a/m1}"]  # fmt: skip
    # Only the spike (a rule of start_on_alerts) asks; usage_error_rate_high fires too and asks nothing.
    ((export_id, rule, org, model, start, end, max_rows, run_id, status),) = requests(db)
    assert (rule, org, model, start, end, max_rows, run_id, status) == (
        "usage_error_rate_spike", "org-a", "m1", T0 - timedelta(minutes=20), T0, 10_000, None, "pending",
    )  # fmt: skip
    alert = db.execute(
        "SELECT fingerprint, firing_since FROM ops.alerts WHERE rule = 'usage_error_rate_spike'"
    ).fetchone()
    assert alert == (fingerprint("usage_error_rate_spike", {"item": "org-a/m1"}), T0)
    assert (
        db.execute(
            "SELECT alert_fingerprint, alert_firing_since FROM ops.incident_exports WHERE id = %s", (export_id,)
        ).fetchone()
        == alert
    )
    assert announced == [("incident_export_requests", {"requests": [export_id]})]

    # Still firing: no second request; the untaken one is announced again (an event lost with a failed
    # evaluator run is not the end of it).
    assert evaluate_at(1) == [("incident_export_requests", {"requests": [export_id]})]
    assert len(requests(db)) == 1

    slack.clear()
    capfd.readouterr()
    run = test_run(dag("analytics_incident_export_on_alert"))
    assert run.state == "success", states(run)
    assert not error_lines(capfd.readouterr())  # a run that succeeded prints no line at error level
    ((_, _, _, _, _, _, _, taken_by, status),) = requests(db)
    assert (taken_by, status) == (run.run_id, "succeeded")
    rows, location = db.execute(
        "SELECT exported_rows, location FROM ops.incident_exports WHERE id = %s", (export_id,)
    ).fetchone()
    exported = list(csv.DictReader(io.StringIO(ObjectStoragePath(location).read_text())))
    expected = sorted(
        (e for e in spike if (e[1], e[2]) == ("org-a", "m1") and T0 - timedelta(minutes=20) <= e[3] < T0),
        key=lambda e: (e[3], e[0]),
    )
    assert len(expected) == 400 and rows == 400
    assert [r["event_id"] for r in exported] == [e[0] for e in expected]
    assert "/incident-exports/org-a/20261203T084000Z_20261203T090000Z_m1_" in location
    (text,) = slack.texts()
    assert f"Incident export {export_id}" in text and location in text and "400 events" in text
    assert "usage_error_rate_spike firing since 2026-12-03T09:00:00+00:00" in text

    # Taken: the evaluator, the alert still firing, asks and announces nothing more.
    assert evaluate_at(2) == []
    assert len(requests(db)) == 1

    # A second run (a late event) finds nothing to take: it succeeds and exports nothing. (The folder may
    # hold other tests' exports of org-a: what counts is that this run adds none.)
    slack.clear()
    files = {str(p) for p in ObjectStoragePath(location).parent.iterdir()}
    again = test_run(dag("analytics_incident_export_on_alert"))
    assert again.state == "success", states(again)
    assert states(again)["take_alert_requests"] == ["success"]
    assert [row[7:] for row in requests(db)] == [(run.run_id, "succeeded")]
    assert slack.texts() == []
    assert {str(p) for p in ObjectStoragePath(location).parent.iterdir()} == files


def test_without_start_on_alerts_a_spike_asks_for_nothing(db, spike, slack, override_config):
    from analytics_ops.alerting.evaluator import evaluate
    from analytics_ops.core.config import load_config

    override_config({"alerting": {"rules": [r.model_dump(mode="json") for r in load_config().alerting.rules],
                                  "evaluator": {"product_rules": False}},
                     "incident_export": {"start_on_alerts": []}})  # fmt: skip
    evaluation = evaluate(load_config(), T0, dag_id="t", run_id="t", task_id="t", use_fallback=False)
    assert any("usage_error_rate_spike" in name for name in evaluation.firing)
    assert (evaluation.exports_asked, evaluation.export_requests, requests(db)) == (0, [], [])


def test_a_manual_export_still_records_one_row_per_run(db, spike, slack):
    """Migration 019 replaced run_id's unique constraint with a partial index: a retried manual run
    still records one export, and requests of alerts (run_id NULL) do not collide with it."""
    from analytics_ops.alerting.evaluator import evaluate
    from analytics_ops.core.config import load_config

    evaluate(load_config(), T0, dag_id="t", run_id="t", task_id="t", use_fallback=False)
    conf = {"org_id": "org-c", "model_id": "m1", "start": "2026-12-03T08:40:00Z", "end": "2026-12-03T09:00:00Z"}
    run = test_run(dag("analytics_incident_export"), run_conf=conf)
    assert run.state == "success", states(run)
    manual = db.execute(
        "SELECT status, exported_rows, alert_rule FROM ops.incident_exports WHERE run_id = %s", (run.run_id,)
    ).fetchall()
    assert manual == [("succeeded", 400, None)]
    assert [(r[1], r[7]) for r in requests(db)] == [("usage_error_rate_spike", None), (None, run.run_id)]


def test_an_alert_whose_ids_are_not_plain_ids_is_refused_and_recorded(db, spike, slack):
    """The item comes from the events' data: a model id like `../m1` would make a path of the CSV's name."""
    from analytics_ops.alerting.evaluator import evaluate
    from analytics_ops.core.config import load_config

    db.execute("UPDATE usage_events SET model_id = '../m1' WHERE org_id = 'org-a' AND model_id = 'm1'")
    evaluation = evaluate(load_config(), T0, dag_id="t", run_id="t", task_id="t", use_fallback=False)
    assert "usage_error_rate_spike{item=org-a/../m1}" in evaluation.firing and evaluation.exports_asked == 1
    slack.clear()
    run = test_run(dag("analytics_incident_export_on_alert"))
    assert run.state == "success", states(run)
    ((export_id, _, org, model, *_, taken_by, status),) = requests(db)
    assert (org, model, taken_by, status) == ("org-a", "../m1", run.run_id, "failed")
    error, location = db.execute(
        "SELECT error, location FROM ops.incident_exports WHERE id = %s", (export_id,)
    ).fetchone()
    assert error == "not an id: model_id '../m1'" and location is None
    assert slack.texts() == []


def test_a_request_that_could_not_be_written_is_asked_again_by_the_next_evaluation(db, spike, slack):
    """The alert state is saved and sent first; the requests in a transaction of their own. When they fail
    (here: the table is away), the evaluator's run fails (no Asset event), and the next run asks."""
    db.execute("ALTER TABLE ops.incident_exports RENAME TO incident_exports_away")
    try:
        failed = test_run(dag("analytics_alert_evaluator"), logical_date=T0)
    finally:
        db.execute("ALTER TABLE ops.incident_exports_away RENAME TO incident_exports")
    assert failed.state == "failed", states(failed)
    assert asset_events(failed) == []
    assert db.execute("SELECT state FROM ops.alerts WHERE rule = 'usage_error_rate_spike'").fetchone() == ("firing",)
    assert any("usage_error_rate_spike" in t for t in slack.texts())
    assert requests(db) == []

    announced = evaluate_at(1)
    ((export_id, rule, org, model, start, end, *_),) = requests(db)
    assert announced == [("incident_export_requests", {"requests": [export_id]})]
    assert (rule, org, model, start, end) == ("usage_error_rate_spike", "org-a", "m1", T0 - timedelta(minutes=20), T0)
