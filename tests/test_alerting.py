"""Alerts to Slack: content, routing by severity, escalation, and no secrets anywhere."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from analytics_ops.alerting.messages import deadline_text, runbook_hint, task_log_url
from analytics_ops.core.config import Route
from analytics_ops.core.config_types import escalate
from analytics_ops.core.errors import error_first_line
from analytics_ops.core.redaction import redact
from tests.conftest import PG_PASSWORD, SLACK, SLACK_TOKEN
from tests.dag_runs import test_run

PROBE_DIR = Path(__file__).parent / "dags"
ONCALL_TOKEN = "T0TEST/B0ONCALL/oncall-token"


def test_escalation_goes_one_level_up_and_stops_at_p0():
    assert [escalate(s) for s in ("P3", "P2", "P1", "P0")] == ["P2", "P1", "P0", "P0"]


def test_redaction_of_known_secrets_and_credential_shapes():
    text = (
        "failed postgresql://ops:s3cret-pw@db:5432/analytics and https://hooks.slack.com/services/T1/B2/abc "
        "password=hunter22, token tok-123456"
    )
    out = redact(text, ["tok-123456"])
    for secret in ("s3cret-pw", "T1/B2/abc", "hunter22", "tok-123456"):
        assert secret not in out
    assert "postgresql://ops:***@db:5432/analytics" in out


def test_error_first_line_keeps_type_and_first_line_only():
    assert error_first_line(ValueError("bad thing\nmore detail")) == "ValueError: bad thing"
    assert error_first_line(KeyError()) == "KeyError"
    assert error_first_line(None).startswith("(no exception")


def test_log_url_and_runbook_hint_from_the_real_dag_doc():
    url = task_log_url("http://af:8080/", "d", "manual__2026-01-01T00:00:00+00:00", "t", 3, 2)
    assert url == "http://af:8080/dags/d/runs/manual__2026-01-01T00%3A00%3A00%2B00%3A00/tasks/t/mapped/3?try_number=2"
    doc = (Path(__file__).parents[1] / "dags" / "analytics_daily_aggregation.py").read_text()
    hint = runbook_hint(doc, "check_quality")
    assert hint.startswith("*`check_quality` failed*") and "SELECT * FROM daily_analytics" in hint
    assert runbook_hint(doc, "no_such_task") is None


def test_deadline_text_says_dag_run_deadline_and_lateness():
    deadline = datetime(2026, 1, 16, 2, 0, tzinfo=UTC)
    text = deadline_text(
        dag_id="analytics_daily_aggregation",
        run_id="scheduled__2026-01-16T01:00:00+00:00",
        severity="P1",
        route=Route(connection="slack_ops", mention="<!here>"),
        deadline_time=deadline,
        now=deadline + timedelta(minutes=12, seconds=5),
        state="running",
        base_url="http://af:8080",
    )
    assert text.startswith("<!here> :red_circle: *[P1] analytics_daily_aggregation missed its deadline*")
    assert "2026-01-16T02:00:00+00:00" in text and "*Late by:* 12m 05s" in text and "running" in text


@pytest.fixture
def probe(tmp_path, monkeypatch):
    """The alert_probe DAG under a config with quick retries, P2 severity, P0/P1 on another connection."""
    config = tmp_path / "ops.yaml"
    config.write_text(
        "airflow:\n  base_url: http://airflow.example:8080\n"
        "dag_defaults:\n  retries: 1\n  retry_delay: 1s\n  max_retry_delay: 1s\n"
        "dags:\n  alert_probe:\n    severity: P2\n"
        "alerting:\n  routes:\n"
        "    P0: {connection: slack_oncall, mention: '<!here>'}\n"
        "    P1: {connection: slack_oncall, mention: '<!here>'}\n"
        "    P2: {connection: slack_ops}\n"
        "    P3: {connection: slack_ops}\n"
    )
    monkeypatch.setenv("ANALYTICS_OPS_CONFIG", str(config))
    # P0/P1 go to another channel: another webhook connection (same receiver, another token).
    monkeypatch.setenv(
        "AIRFLOW_CONN_SLACK_ONCALL", json.dumps({"conn_type": "slackwebhook", "password": SLACK.url(ONCALL_TOKEN)})
    )

    def parse():
        from airflow.dag_processing.dagbag import DagBag

        bag = DagBag(dag_folder=str(PROBE_DIR / "alert_probe.py"))
        assert not bag.import_errors, bag.import_errors
        return bag.get_dag("alert_probe")

    return parse


def test_retry_warns_quietly_final_failure_alerts_and_counts_the_streak(probe, slack, db):
    db.execute("DELETE FROM ops.dag_run_outcomes WHERE dag_id = 'alert_probe'")

    first = test_run(probe())
    assert first.state == "failed"
    texts = slack.texts()
    assert len(texts) == 2, texts
    retry, failure = texts
    assert retry.startswith(":warning: *alert_probe.break_things* failed on try 1 of 2 and will retry")
    assert "<!here>" not in retry
    assert failure.startswith(":large_orange_circle: *[P2] alert_probe.break_things failed*")
    assert "<!here>" not in failure and "escalated" not in failure
    assert [m["path"] for m in slack.messages] == [f"/services/{SLACK_TOKEN}"] * 2
    for expected in (
        f"*Run:* `{first.run_id}`",
        "*Logical date:* ",
        "*Try:* 2 of 2",
        "*Error:* RuntimeError: could not reach *** (probe failure)",
        f"<http://airflow.example:8080/dags/alert_probe/runs/{first.run_id.replace(':', '%3A').replace('+', '%2B')}"
        "/tasks/break_things?try_number=2|task log>",
        "*Failed runs in a row:* 1",
        "<http://airflow.example:8080/dags/alert_probe#when-it-fails|runbook>: *`break_things`*: it was asked to.",
    ):
        assert expected in failure, failure.replace("\n", " || ")
    assert "second line of the error" not in failure

    slack.clear()
    second = test_run(probe())
    assert second.state == "failed"
    again = slack.texts()[-1]
    # Escalation is by time (the evaluator's dag_still_failing), not by a count of runs.
    assert again.startswith(":large_orange_circle: *[P2] alert_probe.break_things failed*")
    assert "*Failed runs in a row:* 2" in again and "escalated" not in again
    assert slack.messages[-1]["path"] == f"/services/{SLACK_TOKEN}"

    slack.clear()
    assert test_run(probe(), run_conf={"succeed": True}).state == "success"
    assert slack.texts() == []  # success is silent, but ends the streak
    third = test_run(probe())
    assert third.state == "failed"
    assert slack.texts()[-1].startswith(":large_orange_circle: *[P2] alert_probe.break_things failed*")

    # No secret in any message (task logs of a real worker are checked in tests/e2e).
    sent = "\n".join(str(m["payload"]) for m in slack.messages)
    assert "could not reach" in sent
    assert PG_PASSWORD not in sent
    assert SLACK_TOKEN not in sent


def test_a_dag_that_alerts_every_nth_failed_run_stays_quiet_in_between(probe, slack, db, monkeypatch, tmp_path):
    """`failed_run_alert_every: 2`: the 1st and 3rd failed runs in a row alert, the 2nd is quiet."""
    import os

    config = Path(os.environ["ANALYTICS_OPS_CONFIG"])
    config.write_text(config.read_text().replace("severity: P2\n", "severity: P2\n    failed_run_alert_every: 2\n", 1))
    db.execute("DELETE FROM ops.dag_run_outcomes WHERE dag_id = 'alert_probe'")
    failures = []
    for _ in range(3):
        slack.clear()
        assert test_run(probe()).state == "failed"
        failures.append([t for t in slack.texts() if "failed*" in t and ":warning:" not in t])
    assert [len(f) for f in failures] == [1, 0, 1]
    assert "*Failed runs in a row:* 3" in failures[2][0]
