"""Whole runs of analytics_daily_aggregation with dag.test() against the local stack."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime

import pytest

from tests.dag_runs import test_run
from tests.task_rows import actual_rows, day_checksum, expected_rows, insert_tasks, random_tasks

pytestmark = pytest.mark.airflow_run

DAG_ID = "analytics_daily_aggregation"
DAYS = [date(2025, 9, 1), date(2025, 9, 2), date(2025, 9, 3)]


@pytest.fixture
def dag():
    """Parsed anew for each test: dag.test() runs tasks in this process, and a task's params that
    one run resolved from its conf stay on the task object for the next run of the same object
    (a worker parses the file for every task, so scheduled runs never see this)."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder="dags")
    return bag.get_dag(DAG_ID)


@pytest.fixture
def tasks(empty_tasks):
    rows = random_tasks(random.Random(9), users=8, days=DAYS, per_day=60)
    insert_tasks(empty_tasks, rows, users=8)
    return rows


def states(dag_run) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for ti in dag_run.get_task_instances():
        found.setdefault(ti.task_id, []).append(str(ti.state))
    return found


def test_backfill_range_from_params(dag, db, tasks):
    run = test_run(dag, run_conf={"start_date": "2025-09-01", "end_date": "2025-09-03"})

    assert run.state == "success", states(run)
    assert states(run)["check_quality"] == ["success"]
    expected = expected_rows(tasks, DAYS[0], DAYS[-1])
    assert actual_rows(db, DAYS[0], DAYS[-1]) == expected
    logged = db.execute(
        "SELECT subject, details->>'rows_written' FROM ops.run_log WHERE dag_id = %s AND task_id = 'aggregate_chunk'",
        (DAG_ID,),
    ).fetchall()
    assert logged == [("2025-09-01..2025-09-03", str(len(expected)))]


def test_range_longer_than_a_chunk_is_split_into_mapped_tasks(dag, db, tasks, override_config):
    override_config({"aggregation": {"chunk_days": 1}})

    run = test_run(dag, run_conf={"start_date": "2025-09-01", "end_date": "2025-09-03"})

    assert run.state == "success", states(run)
    assert states(run)["aggregate_chunk"] == ["success"] * 3
    assert actual_rows(db, DAYS[0], DAYS[-1]) == expected_rows(tasks, DAYS[0], DAYS[-1])


def test_scheduled_run_aggregates_the_previous_utc_day(dag, db, tasks):
    run = test_run(dag, logical_date=datetime(2025, 9, 3, 1, 0, tzinfo=UTC))

    assert run.state == "success", states(run)
    written_days = {day for day, _ in actual_rows(db, date(2025, 8, 1), date(2025, 10, 1))}
    assert written_days == {date(2025, 9, 2)}


def test_rerun_gives_identical_rows(dag, db, tasks):
    conf = {"start_date": "2025-09-01", "end_date": "2025-09-03"}
    assert test_run(dag, run_conf=conf).state == "success"
    first = day_checksum(db, DAYS[0], DAYS[-1])
    assert test_run(dag, run_conf=conf).state == "success"
    assert day_checksum(db, DAYS[0], DAYS[-1]) == first


@pytest.mark.parametrize(
    "conf",
    [
        {"start_date": "2025-09-31"},
        {"start_date": "01/09/2025", "end_date": "03/09/2025"},
        {"start_date": "2025-09-03", "end_date": "2025-09-01"},
        {"start_date": "2025-09-01", "end_date": "2999-01-01"},
        {"start_date": "2020-01-01", "end_date": "2025-09-03"},
        {"start_date": "not a date"},
        {"start_date": "0001-01-01", "end_date": "0001-01-02"},
        {"start_dte": "2025-09-01"},
    ],
    ids=["not-a-day", "malformed", "reversed", "future", "too-long", "words", "before-earliest-day", "unknown-key"],
)
def test_bad_params_fail_before_any_write(dag, db, tasks, conf, slack):
    assert test_run(dag, run_conf={"start_date": "2025-09-01", "end_date": "2025-09-03"}).state == "success"
    before = day_checksum(db, date(2019, 1, 1), date(2030, 1, 1))
    runs_logged = db.execute("SELECT count(*) FROM ops.run_log").fetchone()[0]

    run = test_run(dag, run_conf=conf)

    assert run.state == "failed"
    found = states(run)
    assert found.get("aggregate_chunk", []) in ([], ["upstream_failed"]), found
    assert day_checksum(db, date(2019, 1, 1), date(2030, 1, 1)) == before
    assert db.execute("SELECT count(*) FROM ops.run_log").fetchone()[0] == runs_logged
    # The person who triggered it is told, quietly; a typo is not a page and not a failure streak.
    refused = slack.texts()[-1]
    assert refused.startswith(":no_entry_sign: *analytics_daily_aggregation* run refused its params")
    assert "*Error:* ParamsRefused: bad parameter, nothing was " in refused
    assert "<!here>" not in refused
    assert not db.execute(
        "SELECT 1 FROM ops.dag_run_outcomes WHERE run_id = %s AND outcome = 'failed'", (run.run_id,)
    ).fetchone()


def test_a_param_of_the_wrong_type_is_refused_when_the_run_is_created(dag, db, tasks):
    from airflow.sdk.exceptions import ParamValidationError

    before = day_checksum(db, date(2019, 1, 1), date(2030, 1, 1))
    with pytest.raises(ParamValidationError, match="Invalid input for param start_date"):
        test_run(dag, run_conf={"start_date": 20250901})
    assert day_checksum(db, date(2019, 1, 1), date(2030, 1, 1)) == before
