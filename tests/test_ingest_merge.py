"""Runbook 000's merge against the real stack: staged rows folded into their rollups exactly, under a
kill mid-run and a re-run while ingest keeps writing; rows another session holds skipped without
waiting (the rest merged in the same run); the per-kind kill switch honoured at the next batch; the
DAG's run and its throughput records; the evaluator's merge rules on planted data. Every expected
rollup is computed here in Python from the rows staged, not by the SQL under test."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from analytics_ops.core.config import IngestMergeSettings, load_config
from tests.conftest import NO_ALERT_EXPORTS
from tests.dag_runs import test_run
from tests.test_maintenance_dags import parse, states

pytestmark = pytest.mark.airflow_run

MERGE_APP = "aops-tests-merge"
TABLES = "analytics_events_stage, analytics_events_rollup, analytics_merge_control, ops.ingest_merge_runs, ops.alerts"


@pytest.fixture
def staging(db):
    db.execute(f"TRUNCATE {TABLES} RESTART IDENTITY")
    yield db
    db.execute(f"TRUNCATE {TABLES} RESTART IDENTITY")


def hour_of(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def stage(db, kinds: dict[str, int], oldest: datetime, spread: timedelta) -> Counter:
    """Stage `n` rows of each kind, received between `oldest` and `oldest + spread`; (kind, hour) -> rows."""
    staged: Counter = Counter()
    for kind, n in kinds.items():
        rows = db.execute(
            "INSERT INTO analytics_events_stage (kind, payload, received_at) "
            "SELECT %s, jsonb_build_object('i', i), %s + (i * 7919 %% %s) * interval '1 second' "
            "FROM generate_series(1, %s) AS i RETURNING kind, received_at",
            (kind, oldest, max(1, int(spread.total_seconds())), n),
        ).fetchall()
        staged.update((k, hour_of(at)) for k, at in rows)
    return staged


def rollups(db) -> Counter:
    rows = db.execute("SELECT kind, hour, event_count FROM analytics_events_rollup").fetchall()
    return Counter({(k, h.astimezone(UTC)): n for k, h, n in rows if n})


def waiting(db, kind: str | None = None) -> int:
    if kind is None:
        return db.execute("SELECT count(*) FROM analytics_events_stage").fetchone()[0]
    return db.execute("SELECT count(*) FROM analytics_events_stage WHERE kind = %s", (kind,)).fetchone()[0]


def merged(db, kind: str) -> int:
    return db.execute("SELECT coalesce(sum(event_count), 0) FROM analytics_events_rollup WHERE kind = %s",
                      (kind,)).fetchone()[0]  # fmt: skip


class Ingest(threading.Thread):
    """An ingest writing staged rows (now, and late ones from hours ago) until stopped; keeps what it wrote."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.stop, self.staged, self.inserts, self.error = threading.Event(), Counter(), 0, None

    def run(self) -> None:
        from tests.conftest import TEST_DB, admin_connect

        try:
            with admin_connect(TEST_DB) as conn:
                while not self.stop.is_set():
                    late = self.inserts % 2
                    rows = conn.execute(
                        "INSERT INTO analytics_events_stage (kind, received_at) "
                        "SELECT (ARRAY['page_view', 'api_call', 'fresh_kind'])[1 + i %% 3], "
                        "CASE WHEN %s THEN now() - interval '3 hours' + i * interval '1 second' ELSE now() END "
                        "FROM generate_series(1, 150) AS i RETURNING kind, received_at",
                        (bool(late),),
                    ).fetchall()
                    self.staged.update((k, hour_of(at)) for k, at in rows)
                    self.inserts += 1
                    time.sleep(0.005)
        except Exception as exc:  # reported by the test
            self.error = exc


def run_merge(settings: IngestMergeSettings, application_name: str = MERGE_APP):
    from analytics_ops.core.db import connect
    from analytics_ops.ingest.merge import merge

    with connect(application_name=application_name) as conn:
        return merge(conn, settings)


def test_a_killed_merge_run_again_while_ingest_runs_ends_exact(staging):
    db = staging
    now = datetime.now(UTC)
    expected = stage(
        db, {"page_view": 15000, "api_call": 9000, "signup": 6000}, now - timedelta(hours=5), timedelta(hours=4)
    )
    settings = IngestMergeSettings(batch_rows=300)  # about 100 batches
    ingest = Ingest()
    ingest.start()
    try:
        _kill_then_run_again(db, settings, ingest, expected)
    finally:
        ingest.stop.set()
        ingest.join(30)


def _kill_then_run_again(db, settings: IngestMergeSettings, ingest: Ingest, expected: Counter) -> None:
    killed: list[BaseException] = []

    def doomed() -> None:
        try:
            run_merge(settings)
        except Exception as exc:
            killed.append(exc)

    merge_thread = threading.Thread(target=doomed)
    merge_thread.start()
    deadline = time.monotonic() + 60
    while sum(rollups(db).values()) < 3000 and time.monotonic() < deadline:
        time.sleep(0.01)
    terminated = db.execute(
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE application_name = %s) AS t",
        (MERGE_APP,),
    ).fetchone()[0]
    merge_thread.join(60)
    assert terminated == 1 and killed, "the merge was not killed mid-run"
    assert waiting(db) > 10000, "the kill came too late to be mid-run"
    assert ingest.inserts > 0 and ingest.error is None, ingest.error

    first = run_merge(settings)  # run again while ingest goes on
    assert sum(p.rows_merged for p in first) > 0
    time.sleep(0.3)
    ingest.stop.set()
    ingest.join(30)
    assert ingest.error is None, ingest.error
    for _ in range(3):  # what arrived during the last run is the next run's
        if not waiting(db):
            break
        run_merge(settings)
    assert waiting(db) == 0
    expected.update(ingest.staged)
    assert ingest.inserts >= 10 and sum(ingest.staged.values()) >= 1500
    assert rollups(db) == expected


def test_the_kill_switch_stops_a_kind_at_its_next_batch_and_the_others_go_on(staging):
    from tests.conftest import TEST_DB, admin_connect

    db = staging
    now = datetime.now(UTC)
    expected = stage(db, {"page_view": 20000, "api_call": 20000}, now - timedelta(hours=2), timedelta(hours=1))
    settings = IngestMergeSettings(batch_rows=100)
    result: list = []
    worker = threading.Thread(target=lambda: result.append(run_merge(settings)))
    worker.start()
    deadline = time.monotonic() + 60
    while merged(db, "page_view") < 2000 and time.monotonic() < deadline:
        time.sleep(0.005)
    with admin_connect(TEST_DB) as operator:  # another session, as an operator would
        operator.execute("UPDATE analytics_merge_control SET enabled = false, note = 'INC-1' WHERE kind = 'page_view'")
        at_flip = merged(operator, "page_view")
    worker.join(120)
    (parts,) = result
    part = {p.kind: p for p in parts}
    assert part["page_view"].stopped_by_switch and not part["api_call"].stopped_by_switch
    assert merged(db, "page_view") - at_flip <= 100, "more than the batch in flight ran after the switch"
    assert part["page_view"].rows_merged == merged(db, "page_view") < 20000
    assert waiting(db, "page_view") == 20000 - merged(db, "page_view")
    assert waiting(db, "api_call") == 0 and merged(db, "api_call") == 20000
    assert part["api_call"].batches == 200

    db.execute("UPDATE analytics_merge_control SET enabled = true WHERE kind = 'page_view'")
    run_merge(settings)
    assert waiting(db) == 0 and rollups(db) == expected


def test_rows_another_session_holds_are_skipped_without_waiting_and_the_rest_merged_in_the_same_run(staging):
    from tests.conftest import TEST_DB, admin_connect

    db = staging
    now = datetime.now(UTC)
    expected = stage(db, {"page_view": 900, "api_call": 300}, now - timedelta(hours=3), timedelta(hours=2))
    with admin_connect(TEST_DB) as holder:  # another session holding rows in the middle of page_view's
        holder.autocommit = False
        middle = holder.execute(  # (a FOR UPDATE with OFFSET would lock the rows it skips too)
            "SELECT id FROM analytics_events_stage WHERE kind = 'page_view' "
            "ORDER BY received_at, id OFFSET 200 LIMIT 25"
        ).fetchall()
        held = holder.execute(
            "SELECT id FROM analytics_events_stage WHERE id = any(%s) FOR UPDATE", ([i for (i,) in middle],)
        ).fetchall()
        started = time.monotonic()
        parts = {p.kind: p for p in run_merge(IngestMergeSettings(batch_rows=100))}
        assert time.monotonic() - started < 10, "the merge waited on the held rows"
        assert len(held) == 25 and waiting(db, "page_view") == 25 and waiting(db, "api_call") == 0
        assert parts["page_view"].rows_merged == 875 and parts["api_call"].rows_merged == 300
        # page_view's batch that met the held rows ran again with FOR UPDATE SKIP LOCKED; api_call's never had to.
        assert parts["page_view"].contended_batches == 1 and parts["api_call"].contended_batches == 0
        holder.rollback()
    run_merge(IngestMergeSettings(batch_rows=100))  # the next run takes them
    assert waiting(db) == 0 and rollups(db) == expected


def test_the_dag_merges_every_kind_records_its_throughput_and_gives_new_kinds_the_config_defaults(staging, capsys):
    db = staging
    now = datetime.now(UTC)
    expected = stage(
        db, {"page_view": 700, "signup": 120, "task_event": 55}, now - timedelta(hours=3), timedelta(hours=3)
    )
    db.execute(
        "INSERT INTO analytics_merge_control (kind, enabled, batch_rows) VALUES ('page_view', true, 200), "
        "('task_event', false, 1000)"
    )
    run = test_run(parse("analytics_ingest_merge"), logical_date=now)
    assert run.state == "success", states(run)
    expected = Counter({k: n for k, n in expected.items() if k[0] != "task_event"})
    assert rollups(db) == expected
    assert waiting(db, "task_event") == 55
    runs = {
        kind: (rows, batches, size, stopped)
        for kind, rows, batches, size, stopped in db.execute(
            "SELECT kind, rows_merged, batches, batch_rows, stopped_by_switch FROM ops.ingest_merge_runs"
        ).fetchall()
    }
    assert runs == {
        "page_view": (700, 4, 200, False),  # batches of the operator's 200
        "signup": (120, 1, 50000, False),
        "task_event": (0, 0, 0, True),
    }
    control = db.execute("SELECT enabled, batch_rows FROM analytics_merge_control WHERE kind = 'signup'").fetchone()
    assert control == (load_config().ingest_merge.new_kinds_enabled, load_config().ingest_merge.batch_rows)
    assert "kill switch off for task_event" in capsys.readouterr().out


def _rules(*names: str) -> list[dict]:
    return [r.model_dump(mode="json") for r in load_config().alerting.rules if r.name in names]


MERGE_RULES = ("staging_kind_backlog", "staging_rows_waiting", "ingest_merge_stalled", "ingest_merge_batches_slow")


def record_run(db, kind: str, finished: datetime, slowest: float) -> None:
    db.execute(
        "INSERT INTO ops.ingest_merge_runs (run_id, kind, started_at, finished_at, rows_merged, batches, seconds, "
        "slowest_batch_seconds, batch_rows) VALUES ('t', %s, %s, %s, 1000, 2, 1.0, %s, 50000)",
        (kind, finished - timedelta(seconds=2), finished, slowest),
    )


def test_the_merge_rules_fire_on_planted_backlog_age_stall_and_slow_batches_and_not_otherwise(
    staging, slack, override_config
):
    from analytics_ops.alerting.evaluator import evaluate

    db = staging
    now = datetime.now(UTC).replace(microsecond=0)
    rules = _rules(*MERGE_RULES)
    assert len(rules) == 4
    override_config({"alerting": {"rules": rules, "evaluator": {"product_rules": False}}, **NO_ALERT_EXPORTS})
    slack.clear()

    def evaluate_at(minutes: float) -> None:
        evaluate(load_config(), now + timedelta(minutes=minutes), dag_id="t", run_id="t", task_id="t",
                 use_fallback=False)  # fmt: skip

    # Healthy: a small backlog of minutes, a merge a minute ago with quick batches.
    stage(db, {"page_view": 1000}, now - timedelta(minutes=3), timedelta(minutes=2))
    record_run(db, "page_view", now - timedelta(minutes=1), 0.4)
    for minute in (0, 2, 4):
        evaluate_at(minute)
    assert slack.texts() == []

    # Planted: page_view over 100k rows (and its last merge had a 12 s batch), signup rows 40 minutes
    # old, and no merge for 20 minutes.
    db.execute("TRUNCATE ops.ingest_merge_runs, ops.alerts")
    stage(db, {"page_view": 100_000}, now - timedelta(minutes=4), timedelta(minutes=3))
    stage(db, {"signup": 30}, now - timedelta(minutes=40), timedelta(minutes=1))
    record_run(db, "page_view", now - timedelta(minutes=20), 12.0)
    record_run(db, "signup", now - timedelta(minutes=20), 0.1)
    evaluate_at(0)
    fired = sorted(t.split("*")[1] for t in slack.texts())
    assert fired == [
        "[P2] FIRING: ingest_merge_batches_slow{item=page_view}",
        "[P2] FIRING: ingest_merge_stalled",
        "[P2] FIRING: staging_rows_waiting{item=signup}",
    ], slack.texts()  # the backlog is pending: 10 minutes
    slack.clear()
    evaluate_at(5)
    assert slack.texts() == []
    evaluate_at(11)
    (text,) = slack.texts()
    assert "*[P2] FIRING: staging_kind_backlog{item=page_view}*" in text and "101000 row(s) of page_view" in text
