"""Every DAG that takes params refuses a run whose conf holds a key it does not know.

Airflow merges an unknown conf key into the params without a word: without this refusal a typo'd
key (`start_dte`) runs the default and succeeds, and whoever asked for a backfill believes it ran.
"""

from __future__ import annotations

import pytest

from tests.dag_runs import test_run
from tests.test_maintenance_dags import parse, states

pytestmark = pytest.mark.airflow_run


PARAM_DAGS = [
    "analytics_cache_clear",
    "analytics_cache_warming",
    "analytics_daily_aggregation",
    "analytics_incident_export",
    "analytics_monthly_archival",
    "analytics_pitr",
    "analytics_restore",
    "analytics_txn_backfill",
    "analytics_usage_rollup",
]


def test_the_list_below_is_every_dag_that_takes_params():
    # A DAG that gains params joins the parametrized test below, or this fails.
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder="dags")
    assert not bag.import_errors
    assert sorted(dag_id for dag_id, dag in bag.dags.items() if dag.params) == PARAM_DAGS


@pytest.mark.parametrize("dag_id", PARAM_DAGS)
def test_an_unknown_conf_key_is_refused_before_anything_is_touched(dag_id, db, empty_tasks, slack):
    dag = parse(dag_id)
    declared = sorted(dag.params)
    first = declared[0]
    conf = {first: dag.params[first], f"{first}_typo": "2025-09-01"}
    runs_logged = db.execute("SELECT count(*) FROM ops.run_log").fetchone()[0]

    run = test_run(dag, run_conf=conf)

    assert run.state == "failed", states(run)
    found = states(run)
    # Nothing past the task that reads the params ran: every other task is upstream_failed or
    # never started (a replica-lag gate in front of it only reads).
    ran = {task_id: s for task_id, s in found.items() if any(x in ("success", "failed") for x in s)}
    assert ran and all(s == ["failed"] for s in ran.values()), found
    assert db.execute("SELECT count(*) FROM ops.run_log").fetchone()[0] == runs_logged
    refused = slack.texts()[-1]
    assert "run refused its params" in refused, refused
    assert f"unknown key(s) in the run's conf: '{first}_typo'" in refused, refused
    assert f"this DAG accepts: {', '.join(declared)}" in refused, refused


def _param_less_dags() -> list[str]:
    from airflow.dag_processing.dagbag import DagBag

    return sorted(dag_id for dag_id, dag in DagBag(dag_folder="dags").dags.items() if not dag.params)


@pytest.mark.parametrize("dag_id", _param_less_dags())
def test_a_dag_without_params_refuses_any_conf_before_anything_is_touched(dag_id, db, empty_tasks, slack):
    runs_logged = db.execute("SELECT count(*) FROM ops.run_log").fetchone()[0]
    run = test_run(parse(dag_id), run_conf={"day": "2026-11-30"})
    found = states(run)
    assert run.state == "failed", found
    # The first tasks failed in their pre_execute hook; nothing else ran.
    ran = {task_id: s for task_id, s in found.items() if any(x in ("success", "failed") for x in s)}
    assert ran and all(s == ["failed"] for s in ran.values()), found
    assert db.execute("SELECT count(*) FROM ops.run_log").fetchone()[0] == runs_logged
    refused = slack.texts()[-1]
    assert "run refused its params" in refused, refused
    assert "unknown key(s) in the run's conf: 'day'; this DAG accepts: none: this DAG takes no params" in refused


def test_a_run_with_only_declared_keys_is_not_refused_for_its_keys(db, empty_tasks):
    # The trigger form sends every declared param: that conf must pass the key check.
    dag = parse("analytics_daily_aggregation")
    run = test_run(dag, run_conf={"start_date": None, "end_date": None})
    assert states(run)["resolve_days"] == ["success"], states(run)
