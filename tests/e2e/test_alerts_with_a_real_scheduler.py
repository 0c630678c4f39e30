"""Deadline alerts and task-failure alerts through a real scheduler, worker and triggerer."""

from __future__ import annotations

import pytest

from tests.conftest import PG_PASSWORD, SLACK_TOKEN

pytestmark = pytest.mark.e2e


def test_a_missed_deadline_alerts_from_the_triggerer(airflow_stack, slack):
    run_id = airflow_stack.trigger("deadline_probe")

    texts = slack.wait_for(lambda t: "deadline_probe missed its deadline" in t, timeout=90)

    alerts = [t for t in texts if "deadline_probe missed its deadline" in t]
    assert alerts, f"no deadline alert; received {texts}\n{airflow_stack.log_tail()}"
    alert = alerts[0]
    assert alert.startswith("<!here> :red_circle: *[P1] deadline_probe missed its deadline*")
    assert run_id in alert
    assert "*Deadline:* " in alert and "*Late by:* " in alert
    assert "*State:* running" in alert  # the task is still sleeping past its deadline


def test_a_failing_task_alerts_and_no_secret_reaches_the_worker_logs(airflow_stack, slack):
    run_id = airflow_stack.trigger("alert_probe")

    texts = slack.wait_for(lambda t: "*[P2] alert_probe.break_things failed*" in t, timeout=120)

    failures = [t for t in texts if "alert_probe.break_things failed" in t]
    assert failures, f"no failure alert; received {texts}\n{airflow_stack.log_tail()}"
    assert f"*Run:* `{run_id}`" in failures[-1]
    assert any(t.startswith(":warning: *alert_probe.break_things* failed on try 1 of 2") for t in texts)
    logs = [p for p in (airflow_stack.home / "logs").rglob("*") if p.is_file()]
    assert any("alert_probe" in str(p) for p in logs), "no task log written"
    # The components' own logs too (scheduler, workers, ...: scripts/celery.sh).
    for path in logs + sorted((airflow_stack.home / "celery" / "log").glob("*.log")):
        content = path.read_text(errors="replace")
        assert PG_PASSWORD not in content, f"database password in {path}"
        assert SLACK_TOKEN not in content, f"webhook token in {path}"
    for message in slack.messages:
        assert PG_PASSWORD not in str(message["payload"]) and SLACK_TOKEN not in str(message["payload"])


def _seconds(start: str | None, end: str | None) -> float:
    from datetime import datetime

    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def test_the_alert_evaluator_runs_on_the_real_scheduler_and_what_airflow_adds(airflow_stack, capsys):
    """Three runs of analytics_alert_evaluator one after another on the CeleryExecutor: each succeeds,
    and its times are printed (docs/benchmarks.md): queued to finished, the task, the evaluation."""
    import time

    dag_id, task_id = "analytics_alert_evaluator", "evaluate_alert_rules"
    rows = []  # the stack unpaused every suite DAG (cron schedules are off): a manual run starts at once
    for _ in range(3):
        run_id = airflow_stack.trigger(dag_id)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            run = airflow_stack.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")
            if run["state"] in ("success", "failed"):
                break
            time.sleep(0.5)
        assert run["state"] == "success", f"{run_id}: {run['state']}\n{airflow_stack.log_tail()}"
        ti = airflow_stack.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}")
        xcom = airflow_stack.api(
            "GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value"
        )
        value = xcom["value"]
        if isinstance(value, str):  # the API may return the XCom serialized
            import json

            value = json.loads(value)
        evaluation_ms = value["duration_ms"]
        rows.append((_seconds(run["queued_at"], run["end_date"]), _seconds(ti["start_date"], ti["end_date"]),
                     evaluation_ms))  # fmt: skip
    with capsys.disabled():
        print("\nanalytics_alert_evaluator on the CeleryExecutor (queued to finished / task / evaluation):")
        for run_s, task_s, eval_ms in rows:
            print(f"  {run_s:.1f} s / {task_s:.1f} s / {eval_ms:.0f} ms")
    for run_s, task_s, eval_ms in rows:
        assert eval_ms / 1000 <= task_s <= run_s  # the evaluation inside its task inside its run
