"""Runbook 003's error-rate and latency alerts, against the real stack: usage events planted around
"now", the continuous evaluator run on them, and the alerts that fire compared with what Python
computes from the same events (rates, and percentiles interpolated as percentile_cont does)."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from analytics_ops.core.config import load_config

pytestmark = pytest.mark.airflow_run

RULES = ("usage_error_rate_high", "usage_error_rate_spike", "usage_latency_p95_high", "usage_latency_p99_high",
         "usage_latency_spiking")  # fmt: skip


def percentile_cont(values: list[float], q: float) -> float:
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def plan(now: datetime) -> list[tuple]:
    """(org, model, occurred_at, status, latency_ms): 400 events per series over the last 20 minutes."""
    rows = []

    def series(org, every_error_recent, every_error_before, latency_recent, latency_before, count=400):
        for i in range(count):
            at = now - timedelta(minutes=20) + timedelta(seconds=3 * i)  # one every 3 s: 100 in each 5 minutes
            recent = at >= now - timedelta(minutes=5)
            every = every_error_recent if recent else every_error_before
            status = "error" if every and i % every == 0 else "success"
            rows.append((org, "m1", at, status, latency_recent(i) if recent else latency_before(i)))

    series("org-a", 10, 100, lambda i: 100 + i % 50, lambda i: 100 + i % 50)  # 10 % errors now, 1 % before
    series("org-b", 50, 50, lambda i: 100 + i % 50, lambda i: 100 + i % 50)  # 2 % throughout, fast
    series("org-d", 0, 0, lambda i: 6000 + i, lambda i: 500 + i % 100)  # slow now, no errors
    rows += [("org-c", "m1", now - timedelta(seconds=10 + i), "error", 9000) for i in range(10)]  # too few to judge
    return rows


def expected(rows: list[tuple], now: datetime) -> set[tuple[str, str]]:
    firing = set()
    for org in {r[0] for r in rows}:
        mine = [r for r in rows if r[0] == org]
        recent = [r for r in mine if r[2] >= now - timedelta(minutes=5)]
        before = [r for r in mine if r[2] < now - timedelta(minutes=5)]
        last_10 = [r for r in mine if r[2] >= now - timedelta(minutes=10)]
        item = f"{org}/m1"

        def rate(events):
            return 100.0 * sum(r[3] == "error" for r in events) / len(events)

        if len(recent) >= 20 and rate(recent) > 5:
            firing.add(("usage_error_rate_high", item))
        if len(recent) >= 20 and len(before) >= 20 and rate(recent) / max(rate(before), 1.0) > 3:
            firing.add(("usage_error_rate_spike", item))
        if len(last_10) >= 20 and percentile_cont([r[4] for r in last_10], 0.95) > 2000:
            firing.add(("usage_latency_p95_high", item))
        if len(recent) >= 20 and percentile_cont([r[4] for r in recent], 0.99) > 5000:
            firing.add(("usage_latency_p99_high", item))
        if len(recent) >= 20 and len(before) >= 20:
            rise = percentile_cont([r[4] for r in recent], 0.95) / percentile_cont([r[4] for r in before], 0.95)
            if rise > 2:
                firing.add(("usage_latency_spiking", item))
    return firing


def test_error_rate_and_latency_rules_fire_on_planted_events_and_not_otherwise(db, slack, override_config):
    from analytics_ops.alerting.evaluator import evaluate

    now = datetime.now(UTC).replace(microsecond=0)
    rows = plan(now)
    db.execute("TRUNCATE usage_events, ops.alerts")
    with db.cursor() as cur:
        cur.executemany(
            "INSERT INTO usage_events (event_id, org_id, occurred_at, model_id, latency_ms, status) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            [(str(uuid.uuid4()), org, at, model, latency, status) for org, model, at, status, latency in rows],
        )
    want = expected(rows, now)
    assert want == {
        ("usage_error_rate_high", "org-a/m1"),
        ("usage_error_rate_spike", "org-a/m1"),
        ("usage_latency_p95_high", "org-d/m1"),
        ("usage_latency_p99_high", "org-d/m1"),
        ("usage_latency_spiking", "org-d/m1"),
    }  # fmt: skip  (the plan is what this test says it is)

    rules = [r.model_dump(mode="json") for r in load_config().alerting.rules if r.name in RULES]
    assert len(rules) == len(RULES)
    override_config({"alerting": {"rules": rules, "evaluator": {"product_rules": False}}})
    slack.clear()
    evaluate(load_config(), now, dag_id="t", run_id="t", task_id="t", use_fallback=False)
    fired = set()
    for text in slack.texts():
        head = text.split("*")[1]  # "[P1] FIRING: rule{item=org/model}"
        rule, item = head.split("FIRING: ", 1)[1].rstrip("}").split("{item=")
        fired.add((rule, item))
    assert fired == want, slack.texts()
    spike = next(t for t in slack.texts() if "usage_error_rate_spike" in t)
    assert "10.0x in 15 min (1.0 % -> 10.0 %)" in spike and "analytics_incident_export" in spike

    # Twenty minutes later, with no new events, nothing is left to judge: every alert resolves.
    slack.clear()
    for minutes in (21, 27, 33):
        evaluate(load_config(), now + timedelta(minutes=minutes), dag_id="t", run_id="t", task_id="t",
                 use_fallback=False)  # fmt: skip
    assert len(slack.texts()) == len(want) and all("RESOLVED" in t for t in slack.texts()), slack.texts()
    db.execute("TRUNCATE usage_events, ops.alerts")
