"""Runbook 004's hourly aggregates: the backfill by date range and the hourly reconciliation, against
the real stack. Every expectation is computed here in Python from the transactions planted, not by
the SQL under test."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from analytics_ops.core.config import load_config
from tests.conftest import NO_ALERT_EXPORTS
from tests.dag_runs import test_run
from tests.test_maintenance_dags import parse, states

pytestmark = pytest.mark.airflow_run

DAY = datetime(2026, 11, 2, tzinfo=UTC)  # three days planted: Nov 2-4


@pytest.fixture
def wallet(db):
    """Transactions over three days for 6 merchants in two currencies, an empty txn_hourly_agg."""
    db.execute("TRUNCATE wallet_transactions, txn_hourly_agg, ops.txn_reconciliations CASCADE")
    db.execute(
        "INSERT INTO wallet_transactions (merchant_id, currency, amount, occurred_at) "
        "SELECT 1 + i %% 6, CASE WHEN i %% 5 = 0 THEN 'USD' ELSE 'EUR' END, (1 + (i * 7919) %% 5000) / 100.0, "
        "%s + (i * 37 %% 259200) * interval '1 second' FROM generate_series(1, 6000) AS i",
        (DAY,),
    )
    yield db
    db.execute("TRUNCATE wallet_transactions, txn_hourly_agg, ops.txn_reconciliations CASCADE")


def expected_hours(db, start: datetime, end: datetime) -> dict[tuple, tuple]:
    """(hour, merchant, currency) -> (count, amount), computed in Python from the raw rows."""
    totals: dict[tuple, list] = defaultdict(lambda: [0, Decimal(0)])
    rows = db.execute(
        "SELECT merchant_id, currency, amount, occurred_at FROM wallet_transactions "
        "WHERE occurred_at >= %s AND occurred_at < %s",
        (start, end),
    ).fetchall()
    for merchant, currency, amount, occurred in rows:
        hour = occurred.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        totals[(hour, merchant, currency)][0] += 1
        totals[(hour, merchant, currency)][1] += amount
    return {key: (count, amount) for key, (count, amount) in totals.items()}


def written_hours(db, start: datetime, end: datetime) -> dict[tuple, tuple]:
    rows = db.execute(
        "SELECT hour, merchant_id, currency, tx_count, gross_volume_local FROM txn_hourly_agg "
        "WHERE hour >= %s AND hour < %s",
        (start, end),
    ).fetchall()
    return {(h.astimezone(UTC), m, c): (n, a) for h, m, c, n, a in rows}


def backfill(**conf):
    return test_run(parse("analytics_txn_backfill"), run_conf=conf)


def test_the_backfill_equals_an_independent_computation_and_a_rerun_changes_nothing(wallet, override_config, capfd):
    override_config({"transactions": {"chunk_hours": 20}})  # chunks that do not fall on day boundaries
    capfd.readouterr()
    run = backfill(**{"from": "2026-11-02", "to": "2026-11-04"})
    assert run.state == "success", states(run)
    out = capfd.readouterr()  # a run that succeeded prints no line at error level
    assert not [line for line in (out.out + out.err).splitlines() if "[error" in line]
    assert "rebuilt 4 chunk(s)" in out.out
    start, end = DAY, DAY + timedelta(days=3)
    expected = expected_hours(wallet, start, end)
    assert len(expected) > 400
    assert written_hours(wallet, start, end) == expected
    assert states(run)["rebuild_chunk"] == ["success"] * 4  # 72 hours in chunks of 20

    first = wallet.execute("SELECT max(updated_at) FROM txn_hourly_agg").fetchone()[0]
    assert backfill(**{"from": "2026-11-02", "to": "2026-11-04"}).state == "success"
    assert written_hours(wallet, start, end) == expected
    assert wallet.execute("SELECT max(updated_at) FROM txn_hourly_agg").fetchone()[0] > first


def test_a_killed_backfill_run_again_ends_exact(wallet):
    from analytics_ops.core.db import connect
    from analytics_ops.transactions.hours import HourRange, rebuild

    start, end = DAY, DAY + timedelta(days=3)
    # As a run killed after its first chunk leaves it: one day rebuilt, the rest as a broken
    # consumer wrote them (double counts, a row for a merchant with no sale, a missing merchant).
    with connect() as conn:
        rebuild(conn, HourRange(DAY, DAY + timedelta(days=1)))
    wallet.execute(
        "INSERT INTO txn_hourly_agg (hour, merchant_id, currency, tx_count, gross_volume_local) "
        "SELECT hour, merchant_id, currency, 2 * tx_count, 2 * gross_volume_local FROM txn_hourly_agg"
        " WHERE hour < %s ON CONFLICT DO NOTHING",
        (DAY + timedelta(days=1),),
    )
    wallet.execute(
        "INSERT INTO txn_hourly_agg (hour, merchant_id, currency, tx_count, gross_volume_local) "
        "VALUES (%s, 99, 'EUR', 5, 50), (%s, 1, 'EUR', 999, 1)",
        (DAY + timedelta(days=1, hours=3), DAY + timedelta(days=2, hours=5)),
    )
    assert written_hours(wallet, start, end) != expected_hours(wallet, start, end)

    assert backfill(**{"from": "2026-11-02", "to": "2026-11-04"}).state == "success"
    assert written_hours(wallet, start, end) == expected_hours(wallet, start, end)


def test_a_dry_run_says_what_it_would_change_and_writes_nothing(wallet, capsys):
    wallet.execute(
        "INSERT INTO txn_hourly_agg (hour, merchant_id, currency, tx_count, gross_volume_local) "
        "VALUES (%s, 99, 'EUR', 5, 50)",
        (DAY + timedelta(hours=3),),
    )
    before = written_hours(wallet, DAY, DAY + timedelta(days=1))
    run = backfill(**{"from": "2026-11-02", "dry_run": True})
    assert run.state == "success", states(run)
    assert states(run)["publish_backfill"] == ["skipped"]  # no Asset event: nothing changed
    assert written_hours(wallet, DAY, DAY + timedelta(days=1)) == before
    expected = expected_hours(wallet, DAY, DAY + timedelta(days=1))
    summary = run.get_task_instances()[0]  # noqa: F841 (the XCom is checked through the log line below)
    out = capsys.readouterr().out
    assert f"'rows_to_insert': {len(expected)}" in out and "'rows_to_delete': 1" in out, out


@pytest.mark.parametrize(
    ("conf", "message"),
    [
        ({"from": "2026-11-02", "too": "2026-11-03"}, "unknown key(s) in the run's conf: 'too'"),
        ({"from": "2026-13-02"}, "from: '2026-13-02' is not a real calendar day"),
        ({"from": "2026-11-04", "to": "2026-11-02"}, "to 2026-11-02 is before from 2026-11-04"),
        ({"from": "2026-11-02", "to": "2999-01-01"}, "to 2999-01-01 is in the future or not over yet"),
        ({"from": "2024-01-01", "to": "2026-11-02"}, "more than transactions.max_backfill_days (366)"),
        ({"from": "1926-11-02"}, "starts before transactions.earliest_day (2020-01-01)"),
        ({"to": "2026-11-02"}, "to is set but from is not"),
        ({}, "give from (and to) as YYYY-MM-DD"),
    ],
)
def test_refused_params_touch_nothing(wallet, slack, conf, message):
    wallet.execute(
        "INSERT INTO txn_hourly_agg (hour, merchant_id, currency, tx_count, gross_volume_local) "
        "VALUES (%s, 99, 'EUR', 5, 50)",
        (DAY,),
    )
    logged = wallet.execute("SELECT count(*) FROM ops.run_log").fetchone()[0]
    run = backfill(**conf)
    assert run.state == "failed"
    found = states(run)
    assert found["resolve_backfill"] == ["failed"] and "success" not in str(found), found
    assert wallet.execute("SELECT count(*) FROM txn_hourly_agg").fetchone()[0] == 1
    assert wallet.execute("SELECT count(*) FROM ops.run_log").fetchone()[0] == logged
    assert message in slack.texts()[-1], slack.texts()[-1]


def plant_drift(db, now: datetime) -> list[tuple]:
    """Transactions of the last 6 hours rebuilt correctly, then three kinds of drift planted."""
    from analytics_ops.core.db import connect
    from analytics_ops.transactions.hours import HourRange, rebuild

    base = now.replace(minute=0, second=0, microsecond=0)
    db.execute("TRUNCATE wallet_transactions, txn_hourly_agg, ops.txn_reconciliations CASCADE")
    db.execute(
        "INSERT INTO wallet_transactions (merchant_id, currency, amount, occurred_at) "
        "SELECT 1 + i %% 4, 'EUR', 10 + i %% 7, %s - interval '6 hours' + i * interval '10 seconds' "
        "FROM generate_series(0, 2159) AS i",
        (base,),
    )
    with connect() as conn:
        rebuild(conn, HourRange(base - timedelta(hours=6), base))
    doubled, extra, missing = base - timedelta(hours=2), base - timedelta(hours=1), base - timedelta(hours=3)
    db.execute(  # duplicate event processing: one merchant-hour counted twice
        "UPDATE txn_hourly_agg SET tx_count = 2 * tx_count, gross_volume_local = 2 * gross_volume_local "
        "WHERE hour = %s AND merchant_id = 2",
        (doubled,),
    )
    db.execute(
        "INSERT INTO txn_hourly_agg (hour, merchant_id, currency, tx_count, gross_volume_local) "
        "VALUES (%s, 77, 'USD', 3, 30)",
        (extra,),
    )
    db.execute("DELETE FROM txn_hourly_agg WHERE hour = %s AND merchant_id = 4", (missing,))
    return [(doubled, 2, "EUR"), (extra, 77, "USD"), (missing, 4, "EUR")]


def test_reconciliation_finds_planted_drift_alerts_it_and_repairs_it_when_asked(db, slack, override_config):
    from analytics_ops.alerting.evaluator import evaluate

    now = datetime.now(UTC)
    planted = plant_drift(db, now)
    override_config({"transactions": {"reconcile_hours": 3, "late_arrival_hours": 3}})
    run = test_run(parse("analytics_txn_reconciliation"), logical_date=now)
    assert run.state == "success", states(run)
    assert states(run)["repair_drift"] == ["skipped"]  # repair is off by default: reported only
    found = db.execute("SELECT hour, merchant_id, currency FROM ops.txn_drift ORDER BY hour").fetchall()
    assert sorted((h.astimezone(UTC), m, c) for h, m, c in found) == sorted(planted)
    assert db.execute("SELECT drifted_rows, repaired FROM ops.txn_reconciliations").fetchone() == (3, False)

    db.execute("TRUNCATE ops.alerts")
    rule = next(r for r in load_config().alerting.rules if r.name == "txn_aggregates_drifting").model_dump(mode="json")
    override_config({"alerting": {"rules": [rule], "evaluator": {"product_rules": False}}, **NO_ALERT_EXPORTS})
    slack.clear()
    evaluate(load_config(), now, dag_id="t", run_id="t", task_id="t", use_fallback=False)
    evaluate(load_config(), now + timedelta(minutes=1), dag_id="t", run_id="t", task_id="t", use_fallback=False)
    alerts = [t for t in slack.texts() if "txn_aggregates_drifting" in t]
    assert len(alerts) == 1 and "3 row(s) differ" in alerts[0] and "merchant 2 EUR: +" in alerts[0], slack.texts()

    override_config({"transactions": {"reconcile_hours": 3, "late_arrival_hours": 3, "repair_drift": True}})
    rerun = test_run(parse("analytics_txn_reconciliation"), logical_date=now + timedelta(seconds=1))
    assert states(rerun)["repair_drift"] == ["success"]
    window = (now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=6), now)
    assert written_hours(db, *window) == expected_hours(db, *window)
    assert db.execute("SELECT repaired FROM ops.txn_reconciliations ORDER BY checked_at DESC LIMIT 1").fetchone() == (
        True,
    )
    db.execute("TRUNCATE ops.alerts, wallet_transactions, txn_hourly_agg, ops.txn_reconciliations CASCADE")


def test_the_view_follows_the_data_through_the_asset():
    from analytics_ops.core.assets import TXN_HOURLY_AGG

    frequent = parse("analytics_mv_refresh_frequent")
    assert TXN_HOURLY_AGG in frequent.timetable.asset_condition.objects
    assert frequent.timetable.timetable.expression == "*/15 * * * *"  # and within the runbook's 5-15 minutes
    for dag_id, task_id in (
        ("analytics_txn_backfill", "publish_backfill"),
        ("analytics_txn_reconciliation", "repair_drift"),
    ):
        assert TXN_HOURLY_AGG in parse(dag_id).get_task(task_id).outlets
