"""Runbook 003's usage rollups and their freshness, against the real stack: the hourly rollups equal
what Python computes from the planted events (counts, sums, percentiles interpolated as
percentile_cont does); late events, re-runs and a run killed mid-way count nothing twice;
freshness_status has the runbook's shape and its query runs as written; the evaluator's
`freshness_lagging` fires for the lagging organisation and model only; the DAG refuses bad params."""

from __future__ import annotations

import threading
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from analytics_ops.core.config import UsageRollupSettings, load_config
from analytics_ops.core.db import connect
from tests.conftest import NO_ALERT_EXPORTS
from tests.dag_runs import error_lines, test_run
from tests.test_maintenance_dags import parse, states
from tests.test_usage_alert_rules import percentile_cont

pytestmark = pytest.mark.airflow_run

TABLES = "usage_events, usage_rollup_hourly, usage_rollup_series, usage_rollup_watermark, ops.alerts"
ROLLUP_APP = "aops-tests-usage-rollup"
RUNBOOK_QUERY = """
SELECT org_id, model_id, last_event_at, last_rollup_at, lag_seconds, status
FROM analytics.freshness_status
WHERE lag_seconds > 600
ORDER BY lag_seconds DESC;
"""


@pytest.fixture
def usage(db):
    db.execute(f"TRUNCATE {TABLES}")
    yield db
    db.execute(f"TRUNCATE {TABLES}")


def plant(db, rows: list[tuple]) -> None:
    """rows: (org, model, occurred_at, received_at, status, latency_ms, input_tokens, cost)."""
    with db.cursor() as cur:
        cur.executemany(
            "INSERT INTO usage_events (event_id, org_id, model_id, occurred_at, received_at, status, latency_ms, "
            "input_tokens, output_tokens, cost_estimate_cents) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 7, %s)",
            [(str(uuid.uuid4()), *row) for row in rows],
        )


def events(now: datetime, orgs=("org-a", "org-b"), hours: int = 5, per_hour: int = 37) -> list[tuple]:
    rows = []
    for org in orgs:
        for model in ("m1", "m2"):
            for h in range(hours):
                for i in range(per_hour):
                    at = now - timedelta(hours=h, minutes=(i * 13) % 60, seconds=i)
                    status = (
                        ("success", "success", "error", "timeout", "throttled")[(i + h) % 5] if i % 3 else "success"
                    )
                    rows.append((org, model, at, at + timedelta(seconds=2), status, 50 + (i * 37 + h * 11) % 900,
                                 i * 3, Decimal(i) / 4))  # fmt: skip
    return rows


def expected(rows: list[tuple]) -> dict[tuple, tuple]:
    buckets = defaultdict(list)
    for row in rows:
        org, model, at = row[0], row[1], row[2].astimezone(UTC)
        buckets[org, model, at.replace(minute=0, second=0, microsecond=0)].append(row)
    out = {}
    for key, group in buckets.items():
        statuses = [r[4] for r in group]
        latencies = [r[5] for r in group]
        out[key] = (
            len(group),
            statuses.count("success"),
            statuses.count("error"),
            statuses.count("timeout"),
            statuses.count("throttled"),
            sum(r[6] for r in group),
            7 * len(group),
            sum(r[7] for r in group),
            round(percentile_cont(latencies, 0.5), 6),
            round(percentile_cont(latencies, 0.95), 6),
            round(percentile_cont(latencies, 0.99), 6),
        )
    return out


def rollups(db) -> dict[tuple, tuple]:
    rows = db.execute(
        "SELECT org_id, model_id, hour, events, successes, errors, timeouts, throttled, input_tokens, output_tokens, "
        "cost_estimate_cents, latency_p50_ms, latency_p95_ms, latency_p99_ms FROM usage_rollup_hourly"
    ).fetchall()
    return {(r[0], r[1], r[2].astimezone(UTC)): (*r[3:11], *(round(v, 6) for v in r[11:])) for r in rows}


def roll_up(**settings):
    from analytics_ops.usage.rollup import roll_up as run

    with connect(application_name=ROLLUP_APP) as conn:
        return run(conn, UsageRollupSettings(**settings))


def test_rollups_equal_the_events_and_late_events_and_re_runs_count_nothing_twice(usage):
    # Events received up to 30 minutes ago: outside the next run's late-arrival look-back (10 min).
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    rows = events(now)
    plant(usage, rows)
    first = roll_up(buckets_per_batch=7)
    assert first.since is None and first.buckets == len(expected(rows)) > 20
    # Batches of whole consecutive hours, closed at 7 buckets or more: 2 hours of 4 series each.
    assert first.batches == -(-first.buckets // 8) and first.series == 4
    assert rollups(usage) == expected(rows)

    # A late event for an hour rolled up long ago, and the events of a new series, both received now.
    received = datetime.now(UTC)
    late = [("org-a", "m1", now - timedelta(hours=4, minutes=1), received, "error", 4000, 5, Decimal(1))]
    new = [(*r[:3], received, *r[4:]) for r in events(now, orgs=("org-c",), hours=1, per_hour=25)]
    plant(usage, late + new)
    second = roll_up()
    assert second.since is not None and second.series == 3  # org-a/m1 (the late event), org-c/m1, org-c/m2
    assert second.buckets == 1 + len(expected(new))
    assert rollups(usage) == expected(rows + late + new)
    before = usage.execute("SELECT sum(events), count(*) FROM usage_rollup_hourly").fetchone()
    third = roll_up()  # nothing new: the overlap recomputes what it sees, the same again
    assert rollups(usage) == expected(rows + late + new)
    assert usage.execute("SELECT sum(events), count(*) FROM usage_rollup_hourly").fetchone() == before
    assert third.until > second.until
    series = usage.execute(
        "SELECT org_id, model_id, last_rollup_at FROM usage_rollup_series ORDER BY 1, 2"
    ).fetchall()  # fmt: skip
    assert [(o, m) for o, m, _ in series] == [(o, m) for o in ("org-a", "org-b", "org-c") for m in ("m1", "m2")]
    assert {at for _, _, at in series} == {third.until}  # every series covered up to the last run's start


def test_a_run_killed_mid_way_is_made_whole_by_the_next(usage):
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    rows = events(now)
    plant(usage, rows)
    roll_up()
    watermark = usage.execute("SELECT rolled_up_through FROM usage_rollup_watermark").fetchone()[0]
    # New events in every bucket; one bucket's rollup row held by another session, so the run blocks there.
    more = [(*r[:3], datetime.now(UTC), *r[4:]) for r in events(now, per_hour=5)]
    plant(usage, more)
    newest_hour = now.replace(minute=0, second=0)
    with connect(application_name="aops-tests-holder") as holder:
        holder.execute(
            "SELECT 1 FROM usage_rollup_hourly WHERE org_id = 'org-b' AND model_id = 'm2' AND hour = %s FOR UPDATE",
            (newest_hour,),
        )
        failure: list[BaseException] = []

        def run():
            try:
                roll_up(buckets_per_batch=1)
            except BaseException as exc:  # the terminated session's error: expected
                failure.append(exc)

        worker = threading.Thread(target=run)
        worker.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            waiting = usage.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name = %s AND wait_event_type = 'Lock'",
                (ROLLUP_APP,),
            ).fetchall()
            if waiting:
                break
            time.sleep(0.1)
        assert waiting, "the rollup never reached the held bucket"
        usage.execute("SELECT pg_terminate_backend(%s)", (waiting[0][0],))
        worker.join(30)
        holder.rollback()
    assert failure, "the killed run did not fail"
    # Killed part-way: some buckets already recomputed, the watermark not moved.
    assert usage.execute("SELECT rolled_up_through FROM usage_rollup_watermark").fetchone()[0] == watermark
    assert rollups(usage) != expected(rows + more)
    roll_up()
    assert rollups(usage) == expected(rows + more)


def test_freshness_status_has_the_runbooks_shape_and_the_rule_fires_for_the_lagging_series(usage, slack,
                                                                                         override_config):  # fmt: skip
    from analytics_ops.alerting.evaluator import evaluate

    now = datetime.now(UTC).replace(microsecond=0)
    plant(usage, [("org-a", "m1", now - timedelta(hours=2), now - timedelta(hours=2), "success", 80, 1, Decimal(0))])
    # Never rolled up: the series shows, its lag is the age of its oldest event.
    (row,) = usage.execute("SELECT * FROM analytics.freshness_status").fetchall()
    assert row[:2] == ("org-a", "m1") and row[3] is None and row[5] == "never_rolled_up"
    assert 7200 <= row[4] < 7200 + 60
    roll_up()
    (row,) = usage.execute("SELECT * FROM analytics.freshness_status").fetchall()
    assert row[4] == 0 and row[5] == "current" and row[3] is not None

    # The rollup stalls: events keep arriving. org-b/m1's oldest waits 12 min, org-a/m1's 3 min.
    usage.execute("UPDATE usage_rollup_watermark SET rolled_up_through = now() - interval '15 minutes'")
    plant(usage, [
        ("org-b", "m1", now - timedelta(minutes=12), now - timedelta(minutes=12), "success", 80, 1, Decimal(0)),
        ("org-b", "m1", now - timedelta(minutes=1), now - timedelta(minutes=1), "success", 80, 1, Decimal(0)),
        ("org-a", "m1", now - timedelta(minutes=3), now - timedelta(minutes=3), "success", 80, 1, Decimal(0)),
    ])  # fmt: skip
    cur = usage.execute(RUNBOOK_QUERY)
    assert [c.name for c in cur.description] == ["org_id", "model_id", "last_event_at", "last_rollup_at",
                                                 "lag_seconds", "status"]  # fmt: skip
    (lagging,) = cur.fetchall()
    assert lagging[:2] == ("org-b", "m1") and lagging[3] is None and lagging[5] == "never_rolled_up"
    assert 720 <= lagging[4] < 780
    assert lagging[2].astimezone(UTC) == now - timedelta(minutes=1)  # the newest event
    statuses = dict(usage.execute("SELECT org_id, status FROM freshness_status").fetchall())
    assert statuses == {"org-a": "behind", "org-b": "never_rolled_up"}

    # The Ops page lists both series, the most behind first, org-b/m1 over the runbook's 10 minutes.
    from analytics_ops.ops_page.overview import database_sections

    with connect(autocommit=True, application_name="analytics-ops:test") as conn:
        section = database_sections(conn, load_config(), now=datetime.now(UTC))["usage_freshness"]
    assert [(r["org_id"], r["status"], r["critical"]) for r in section.rows] == [
        ("org-b", "never_rolled_up", True),
        ("org-a", "behind", False),
    ]
    assert section.note.startswith("2 of 2 organisation/model series have events waiting for the rollup, 1 over 10 min")
    assert "analytics_usage_rollup last completed" in section.note

    rules = [r.model_dump(mode="json") for r in load_config().alerting.rules if r.name == "freshness_lagging"]
    override_config({"alerting": {"rules": rules, "evaluator": {"product_rules": False}}, **NO_ALERT_EXPORTS})
    slack.clear()
    evaluate(load_config(), now, dag_id="t", run_id="t", task_id="t", use_fallback=False)
    assert len(slack.texts()) == 1, slack.texts()
    assert "FIRING: freshness_lagging{item=org-b/m1}" in slack.texts()[0]
    assert "analytics.freshness_status" in slack.texts()[0]  # the advice: the runbook's query

    roll_up()  # the rollup catches up: nothing waits, the alert resolves
    assert usage.execute("SELECT count(*) FROM freshness_status WHERE status <> 'current'").fetchone()[0] == 0
    slack.clear()
    for minutes in (1, 2, 3, 4, 5, 6):  # keep_firing_for
        evaluate(load_config(), now + timedelta(minutes=minutes), dag_id="t", run_id="t", task_id="t",
                 use_fallback=False)  # fmt: skip
    assert [t for t in slack.texts() if "RESOLVED" in t and "org-b/m1" in t], slack.texts()


def test_the_dag_rolls_up_refuses_bad_params_and_rebuilds_on_request(usage, capfd):
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    rows = events(now, hours=2)
    plant(usage, rows)

    def dag():  # parsed afresh for every run: dag.test() keeps a run's conf in the DAG's params
        return parse("analytics_usage_rollup")

    for conf, says in (
        ({"rebuild_since": "yesterday"}, "not an ISO 8601 time"),
        ({"rebuild_since": "2026-11-30T00:00:00"}, "has no time zone"),
        ({"rebuild_since": (now + timedelta(hours=1)).isoformat()}, "in the future"),
        ({"rebuild_since": (now - timedelta(days=40)).isoformat()}, "more than 31 days back"),
        ({"rebuild_sinse": now.isoformat()}, "rebuild_sinse"),
    ):
        capfd.readouterr()
        run = test_run(dag(), run_conf=conf)
        assert run.state == "failed", (conf, states(run))
        assert says in (lambda o: o.out + o.err)(capfd.readouterr()), conf
        assert usage.execute("SELECT count(*) FROM usage_rollup_hourly").fetchone()[0] == 0, conf
        assert usage.execute("SELECT count(*) FROM usage_rollup_watermark").fetchone()[0] == 0, conf

    capfd.readouterr()
    run = test_run(dag())
    assert run.state == "success", states(run)
    out = capfd.readouterr()
    assert not error_lines(out)  # a run that succeeded prints no line at error level
    assert "rolled up 12 hourly bucket(s) of 4 organisation/model series (every event (first run)" in out.out
    assert rollups(usage) == expected(rows)

    # An event written with an old received_at (a replayed ingest): not seen by the next run, only by a rebuild.
    # (In an hour no event of the late-arrival look-back falls in, or the next run would recompute it anyway.)
    old_at = now - timedelta(hours=2, minutes=30)
    old = [("org-a", "m1", old_at, old_at, "error", 999, 1, Decimal(1))]
    plant(usage, old)
    assert test_run(dag()).state == "success"
    assert rollups(usage) == expected(rows)
    run = test_run(dag(), run_conf={"rebuild_since": (now - timedelta(hours=3)).isoformat()})
    assert run.state == "success", states(run)
    assert rollups(usage) == expected(rows + old)
    logged = usage.execute(
        "SELECT details->>'buckets' FROM ops.run_log WHERE dag_id = 'analytics_usage_rollup' ORDER BY id DESC LIMIT 1"
    ).fetchone()
    assert logged and int(logged[0]) >= 8
