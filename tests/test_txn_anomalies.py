"""Runbook 004's SIRA and aggregation lag, against the real stack: analytics_txn_anomalies scores
planted hourly aggregates, the continuous evaluator sends each anomaly once and resolves it, and the
aggregation-lag rule fires only when transactions wait. Expected scores are computed here in Python."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from analytics_ops.core.config import load_config
from tests.conftest import NO_ALERT_EXPORTS
from tests.dag_runs import test_run
from tests.test_maintenance_dags import parse, states

pytestmark = pytest.mark.airflow_run

HISTORY = 168


def _count(merchant: int, hours_before: int) -> int | None:
    """The planted transaction count of `merchant` `hours_before` the scored hour (None: no row)."""
    if merchant == 4 and hours_before > 5:
        return None  # a new merchant: 5 hours of history, under the minimum of 24
    if merchant == 5:
        return 7  # never varies: no score
    if merchant == 6 and hours_before % 2:
        return None  # every other hour empty: those count as 0
    return 20 + (hours_before * merchant) % 7


LAST_HOUR = {1: 22, 2: 90, 3: 0, 4: 400, 5: 7, 6: 21}  # 2 spikes, 3 drops to nothing (no row)


def plant(db, hour: datetime, last_hour: dict[int, int]) -> None:
    rows = [
        (hour - timedelta(hours=h), m, c)
        for m in range(1, 7)
        for h in range(1, HISTORY + 1)
        if (c := _count(m, h)) is not None
    ]
    rows += [(hour, m, c) for m, c in last_hour.items() if c]
    with db.cursor() as cur:
        cur.executemany(
            "INSERT INTO txn_hourly_agg (hour, merchant_id, currency, tx_count, gross_volume_local) "
            "VALUES (%s, %s, 'EUR', %s, %s * 10) "
            "ON CONFLICT (hour, merchant_id, currency) DO UPDATE SET tx_count = excluded.tx_count",
            [(h, m, c, c) for h, m, c in rows],
        )


def expected_z(merchant: int, last: int) -> float | None:
    window = [_count(merchant, h) or 0 for h in range(1, HISTORY + 1)]
    mean = sum(window) / HISTORY
    sd = math.sqrt(sum(x * x for x in window) / HISTORY - mean * mean)
    return (last - mean) / sd if sd > 1e-9 else None


@pytest.fixture
def aggregates(db):
    db.execute("TRUNCATE wallet_transactions, txn_hourly_agg, ops.txn_anomaly_scans, ops.alerts CASCADE")
    yield db
    db.execute("TRUNCATE wallet_transactions, txn_hourly_agg, ops.txn_anomaly_scans, ops.alerts CASCADE")


def test_a_planted_anomaly_is_scored_stored_and_alerted_once_then_resolved(aggregates, slack, override_config):
    from analytics_ops.alerting.evaluator import evaluate

    db = aggregates
    now = datetime.now(UTC)
    hour = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    plant(db, hour, LAST_HOUR)
    expected = {m: expected_z(m, c) for m, c in LAST_HOUR.items() if m not in (4, 5)}
    anomalous = {m for m, z in expected.items() if abs(z) >= 3}
    assert anomalous == {2, 3}, expected  # the planted data is what the test says it is

    for attempt in range(2):  # a re-run of the same hour replaces its scan
        run = test_run(parse("analytics_txn_anomalies"), logical_date=now + timedelta(seconds=attempt))
        assert run.state == "success", states(run)
    scans = db.execute("SELECT hour, merchants_scored, anomalies FROM ops.txn_anomaly_scans").fetchall()
    assert [(h.astimezone(UTC), n, a) for h, n, a in scans] == [
        (hour, 4, 2)
    ]  # merchants 1, 2, 3, 6: 4 too new, 5 never varied
    stored = dict(db.execute("SELECT merchant_id, z_score FROM ops.txn_anomalies").fetchall())
    assert stored.keys() == anomalous
    for merchant, z in stored.items():
        assert z == pytest.approx(expected[merchant], rel=1e-9)

    rules = [r.model_dump(mode="json") for r in load_config().alerting.rules if r.name == "txn_anomaly"]
    override_config({"alerting": {"rules": rules, "evaluator": {"product_rules": False}}, **NO_ALERT_EXPORTS})
    slack.clear()
    for minute in range(3):
        evaluate(
            load_config(), now + timedelta(minutes=minute), dag_id="t", run_id="t", task_id="t", use_fallback=False
        )
    texts = slack.texts()
    assert len(texts) == 2, texts  # one per merchant, once
    spike = next(t for t in texts if "merchant 2:" in t)
    assert "*[P2] FIRING: txn_anomaly{item=merchant 2}*" in spike and "90 transaction(s)" in spike
    assert f"z = {expected[2]:+.1f}" in spike
    assert any("merchant 3: 0 transaction(s)" in t for t in texts)

    # The next hour is ordinary: its scan has no anomaly, and each alert resolves once.
    next_hour = hour + timedelta(hours=1)
    db.execute(
        "INSERT INTO txn_hourly_agg (hour, merchant_id, currency, tx_count, gross_volume_local) "
        "SELECT %s, m, 'EUR', CASE WHEN m = 6 THEN 12 ELSE 23 END, 100 FROM unnest(ARRAY[1, 2, 3, 6]) AS m",
        (next_hour,),
    )
    later = now + timedelta(hours=1)
    assert test_run(parse("analytics_txn_anomalies"), logical_date=later).state == "success"
    assert db.execute("SELECT anomalies FROM ops.txn_anomaly_scans WHERE hour = %s", (next_hour,)).fetchone() == (0,)
    for minute in range(0, 12, 2):
        evaluate(
            load_config(), later + timedelta(minutes=minute), dag_id="t", run_id="t", task_id="t", use_fallback=False
        )
    resolved = [t for t in slack.texts() if "RESOLVED: txn_anomaly" in t]
    assert len(resolved) == 2 and len(slack.texts()) == 4, slack.texts()


def test_the_aggregation_lag_rule_fires_only_when_transactions_wait(aggregates, slack, override_config):
    from analytics_ops.alerting.evaluator import evaluate

    db = aggregates
    now = datetime.now(UTC).replace(microsecond=0)
    db.execute(
        "INSERT INTO txn_hourly_agg (hour, merchant_id, currency, tx_count, gross_volume_local, updated_at) "
        "VALUES (date_trunc('hour', %s::timestamptz - interval '1 hour'), 1, 'EUR', 3, 30, %s)",
        (now, now - timedelta(minutes=20)),
    )
    # Written before the consumer's last write: aggregated already, nothing waits.
    db.execute(
        "INSERT INTO wallet_transactions (merchant_id, currency, amount, occurred_at, created_at) "
        "VALUES (1, 'EUR', 10, %(t)s, %(t)s)",
        {"t": now - timedelta(minutes=25)},
    )
    rules = [r.model_dump(mode="json") for r in load_config().alerting.rules if r.name == "txn_aggregation_lagging"]
    override_config({"alerting": {"rules": rules, "evaluator": {"product_rules": False}}, **NO_ALERT_EXPORTS})
    slack.clear()
    evaluate(load_config(), now, dag_id="t", run_id="t", task_id="t", use_fallback=False)
    assert slack.texts() == []

    # Two transactions after it, the oldest 8 minutes ago: 8 minutes behind, over the runbook's 5.
    db.execute(
        "INSERT INTO wallet_transactions (merchant_id, currency, amount, occurred_at, created_at) "
        "VALUES (1, 'EUR', 10, %(a)s, %(a)s), (2, 'EUR', 5, %(b)s, %(b)s)",
        {"a": now - timedelta(minutes=8), "b": now - timedelta(minutes=2)},
    )
    evaluate(load_config(), now, dag_id="t", run_id="t", task_id="t", use_fallback=False)
    (text,) = slack.texts()
    assert "*[P2] FIRING: txn_aggregation_lagging*" in text and "8 min behind (2 transaction(s) waiting)" in text

    # The consumer catches up: resolved once keep_firing_for has passed.
    db.execute("UPDATE txn_hourly_agg SET updated_at = %s", (now,))
    for minute in (1, 4, 7):
        evaluate(
            load_config(), now + timedelta(minutes=minute), dag_id="t", run_id="t", task_id="t", use_fallback=False
        )
    assert [t for t in slack.texts() if "RESOLVED: txn_aggregation_lagging" in t], slack.texts()
    assert len(slack.texts()) == 2
