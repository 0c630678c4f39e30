"""The replica-lag gate against the local primary and its real streaming replica."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest

from analytics_ops.core.config import ReplicationSettings
from analytics_ops.replication.lag import ReplicaLagTrigger, judge, lags_from_primary, measure
from tests.conftest import REPLICA_PORT, superuser_connect
from tests.dag_runs import test_run

TIGHT = ReplicationSettings(
    max_lag_seconds=2,
    max_lag_bytes=256 * 1024,
    replica_connections=["analytics_db_replica"],
    poke_interval=timedelta(seconds=0.5),
    timeout=timedelta(seconds=30),
)


@contextmanager
def replay_paused() -> Iterator[None]:
    with superuser_connect(port=REPLICA_PORT) as replica:  # pausing replay takes a superuser
        replica.execute("SELECT pg_wal_replay_pause()")
        try:
            yield
        finally:
            replica.execute("SELECT pg_wal_replay_resume()")


def write_wal(db, rows: int = 50_000) -> None:
    db.execute("CREATE TABLE IF NOT EXISTS wal_filler (id bigint, pad text)")
    db.execute("INSERT INTO wal_filler SELECT g, repeat('x', 100) FROM generate_series(1, %s) AS g", (rows,))


def wait_until_caught_up(timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if measure(TIGHT).ok:
            return
        time.sleep(0.2)
    raise AssertionError(f"replica did not catch up: {measure(TIGHT).summary()}")


def test_null_replay_lag_with_nothing_outstanding_is_zero_lag():
    lags = lags_from_primary([("r1@10.0.0.2", "streaming", 0, None), ("r2@10.0.0.3", "streaming", 4096, None)])
    assert [(lag.lag_seconds, lag.lag_bytes) for lag in lags] == [(0.0, 0), (None, 4096)]
    assert judge(lags, [], [], TIGHT).ok  # 4 kB behind, seconds unknown: judged on bytes alone
    catching_up = lags_from_primary([("r3@10.0.0.4", "catchup", None, None)])
    verdict = judge(catching_up, [], [], TIGHT)
    assert not verdict.ok and "r3@10.0.0.4: lag unknown (state catchup)" in verdict.summary()


def test_idle_primary_with_a_caught_up_replica_passes(db):
    wait_until_caught_up()
    time.sleep(TIGHT.max_lag_seconds + 1.5)  # idle for longer than the seconds limit

    verdict = measure(TIGHT)

    assert verdict.ok, verdict.summary()
    assert {lag.source for lag in verdict.lags} == {"primary", "replica"}
    assert all(lag.lag_seconds == 0 and lag.lag_bytes == 0 for lag in verdict.lags), verdict.summary()


def test_paused_replay_keeps_the_gate_closed_until_resumed(db):
    wait_until_caught_up()
    with replay_paused():
        write_wal(db)
        time.sleep(TIGHT.max_lag_seconds + 0.5)
        verdict = measure(TIGHT)
        assert not verdict.ok
        summary = verdict.summary()
        assert "behind (max 256.0 kB)" in summary and "replay paused" in summary, summary
        assert "analytics_db_replica: " in summary and " s behind (max 2 s)" in summary, summary

    async def gate_waits_then_opens() -> dict:
        trigger = ReplicaLagTrigger(
            primary_conn_id="analytics_db", settings=TIGHT.model_dump(mode="json"), deadline=time.time() + 60
        )
        with superuser_connect(port=REPLICA_PORT) as replica:  # pausing replay takes a superuser
            replica.execute("SELECT pg_wal_replay_pause()")
            write_wal(db)
            events = trigger.run()
            first = asyncio.ensure_future(anext(events))
            await asyncio.sleep(3)
            assert not first.done(), "the trigger passed while replay was paused"
            replica.execute("SELECT pg_wal_replay_resume()")
        event = await asyncio.wait_for(first, timeout=20)
        return event.payload

    payload = asyncio.run(gate_waits_then_opens())
    assert payload["status"] == "ok", payload
    assert payload["summary"].startswith("replica lag within limits")


def test_no_replica_passes_or_fails_as_configured():
    # A standby has no streaming replicas of its own: it stands in for a primary without replicas.
    alone = TIGHT.model_copy(update={"replica_connections": []})
    assert measure(alone.model_copy(update={"when_no_replica": "pass"}), "analytics_db_replica").ok
    verdict = measure(alone.model_copy(update={"when_no_replica": "fail"}), "analytics_db_replica")
    assert not verdict.ok
    assert "no streaming replica is attached to the primary (replication.when_no_replica: fail)" in verdict.summary()


def test_an_unreachable_replica_connection_closes_the_gate(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_GONE_REPLICA", '{"conn_type": "postgres", "host": "127.0.0.1", "port": 1}')
    verdict = measure(TIGHT.model_copy(update={"replica_connections": ["gone_replica"]}))
    assert not verdict.ok and "gone_replica: unreachable (OperationalError" in verdict.summary()


@pytest.mark.airflow_run
def test_gated_dag_fails_with_the_measured_lag_and_alerts(db, empty_tasks, slack, override_config):
    from airflow.dag_processing.dagbag import DagBag

    override_config(
        {"replication": {"max_lag_seconds": 2, "max_lag_bytes": 262144, "poke_interval": "500ms", "timeout": "3s"}}
    )
    db.execute("DELETE FROM ops.dag_run_outcomes")  # no failure streak from earlier tests
    wait_until_caught_up()
    with replay_paused():
        write_wal(db)
        dag = DagBag(dag_folder="dags").get_dag("analytics_daily_aggregation")
        run = test_run(dag, run_conf={"start_date": "2025-09-01"})

    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    assert run.state == "failed"
    assert states["wait_for_replicas"] == "failed"
    assert states.get("aggregate_chunk") in (None, "upstream_failed"), states
    alert = slack.wait_for(lambda t: "wait_for_replicas failed" in t, timeout=5)[-1]
    assert "*[P1] analytics_daily_aggregation.wait_for_replicas failed*" in alert
    assert "gave up after 3 s waiting for replicas to catch up: replica lag over the limit:" in alert
    assert "replay paused" in alert
