"""The continuous alert evaluator against the real stack and the Slack stand-in, with time injected.

Each test gives the evaluator its own rules (`alerting.rules`) on real checks, plants the condition
in the test database, and calls one evaluation per simulated minute (`evaluate(config, now)`): what
reaches the receiver, and what `ops.alerts` holds, is asserted. The primary-down test runs the DAG
itself (dag.test), since its fallback state lives in Airflow.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from analytics_ops.core.config import DEFAULT_CONFIG_PATH, load_config, parse_config
from tests.conftest import NO_ALERT_EXPORTS, ONCALL_TOKEN, SLACK, SLACK_TOKEN
from tests.dag_runs import test_run

DAG_FILE = Path(__file__).parents[1] / "dags" / "analytics_alert_evaluator.py"
DEFAULT_RULES = [
    r.model_dump(mode="json") for r in parse_config(DEFAULT_CONFIG_PATH.read_text(), DEFAULT_CONFIG_PATH).alerting.rules
]
T0 = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
OPS = f"/services/{SLACK_TOKEN}"
ONCALL = f"/services/{ONCALL_TOKEN}"
ROUTES = {
    "P0": {"connection": "slack_oncall", "mention": "<!here>"},
    "P1": {"connection": "slack_oncall", "mention": "<!here>"},
    "P2": {"connection": "slack_ops", "mention": ""},
    "P3": {"connection": "slack_ops", "mention": ""},
}


def backlog_rule(**overrides) -> dict:
    rule = {
        "name": "backlog_high",
        "check": "staging_backlog",
        "above": 100,
        "severity": "P2",
        "summary": "staging backlog over 100 rows",
        "advice": "are the merges stuck?",
    }
    return {**rule, **overrides}


@pytest.fixture
def alerts(db, override_config, slack):
    """Empty alert tables and staging; `configure(rules=..., **alerting)` sets the evaluator's config."""
    db.execute(
        "TRUNCATE ops.alerts, ops.alert_notifications, ops.alert_rule_failures, ops.alert_evaluator_heartbeat, "
        "analytics_alerts, analytics_alert_rules, analytics_events_stage, ops.dag_run_outcomes"
    )

    def configure(rules: list[dict], sections: dict | None = None, **alerting) -> None:
        settings = {"rules": rules, "routes": ROUTES, "evaluator": {"product_rules": False}, **alerting}
        override_config({"alerting": settings, **NO_ALERT_EXPORTS, **(sections or {})})

    yield configure
    db.execute(
        "TRUNCATE ops.alerts, analytics_events_stage, ops.dag_run_outcomes, analytics_alerts, analytics_alert_rules"
    )


def evaluate_at(now: datetime):
    from analytics_ops.alerting.evaluator import evaluate

    return evaluate(load_config(), now, dag_id="aops_tests", run_id="evaluator", task_id="evaluate", use_fallback=False)


def set_backlog(db, rows: int) -> None:
    db.execute("TRUNCATE analytics_events_stage")
    if rows:
        db.execute(
            "INSERT INTO analytics_events_stage (kind, payload) SELECT 'e', '{}' FROM generate_series(1, %s)", (rows,)
        )


def state_of(db, rule: str) -> list[tuple]:
    return db.execute(
        "SELECT state, notified, firing_since IS NOT NULL FROM ops.alerts WHERE rule = %s ORDER BY id", (rule,)
    ).fetchall()


def test_a_rule_fires_only_after_it_held_for_pending_for(alerts, db, slack):
    alerts([backlog_rule(pending_for="3m")])
    set_backlog(db, 500)
    for minute in range(3):
        evaluation = evaluate_at(T0 + timedelta(minutes=minute))
        assert evaluation.pending == ["backlog_high"] and evaluation.firing == []
        assert slack.texts() == [], f"sent at minute {minute}"
    assert state_of(db, "backlog_high") == [("pending", False, False)]

    evaluation = evaluate_at(T0 + timedelta(minutes=3))
    assert evaluation.firing == ["backlog_high"]
    assert len(slack.messages) == 1 and slack.messages[0]["path"] == OPS  # P2: the team's channel
    text = slack.texts()[0]
    assert text.startswith(":large_orange_circle: *[P2] FIRING: backlog_high*")
    for expected in ("staging backlog over 100 rows", "500 rows waiting", "staging_backlog over 100 for 3 min",
                     "are the merges stuck?", "/analytics-ops/|Ops page"):  # fmt: skip
        assert expected in text, text

    evaluate_at(T0 + timedelta(minutes=4))
    assert len(slack.messages) == 1  # firing once, not every minute
    assert state_of(db, "backlog_high") == [("firing", True, True)]


def test_a_condition_that_clears_before_pending_for_sends_nothing(alerts, db, slack):
    alerts([backlog_rule(pending_for="3m")])
    set_backlog(db, 500)
    evaluate_at(T0)
    evaluate_at(T0 + timedelta(minutes=1))
    set_backlog(db, 0)
    evaluate_at(T0 + timedelta(minutes=2))
    set_backlog(db, 500)  # held again: pending starts over
    evaluate_at(T0 + timedelta(minutes=3))
    evaluate_at(T0 + timedelta(minutes=5))
    assert slack.texts() == []
    assert state_of(db, "backlog_high") == [("pending", False, False)]


def test_a_flapping_condition_sends_one_firing_and_one_resolved(alerts, db, slack):
    alerts([backlog_rule()], keep_firing_for="5m")
    for minute in range(10):  # on, off, on, off, ...
        set_backlog(db, 500 if minute % 2 == 0 else 0)
        evaluate_at(T0 + timedelta(minutes=minute))
    assert [t.split("*")[1] for t in slack.texts()] == ["[P2] FIRING: backlog_high"]

    set_backlog(db, 0)  # last active at minute 8; quiet from then on
    evaluate_at(T0 + timedelta(minutes=12))
    assert len(slack.texts()) == 1  # 4 minutes quiet: still firing
    evaluate_at(T0 + timedelta(minutes=13))
    texts = slack.texts()
    assert len(texts) == 2 and texts[1].startswith(":white_check_mark: *[P2] RESOLVED: backlog_high* after 13 min")
    assert "0 rows waiting" in texts[1]
    evaluate_at(T0 + timedelta(minutes=14))
    assert len(slack.texts()) == 2  # resolved once
    assert state_of(db, "backlog_high") == [("resolved", False, True)]


def test_resolve_sends_one_message_and_a_new_episode_fires_again(alerts, db, slack):
    alerts([backlog_rule()], keep_firing_for="0s")
    set_backlog(db, 500)
    evaluate_at(T0)
    set_backlog(db, 0)
    evaluate_at(T0 + timedelta(minutes=1))
    evaluate_at(T0 + timedelta(minutes=2))
    set_backlog(db, 500)
    evaluate_at(T0 + timedelta(minutes=3))
    kinds = [t.split("*")[1].split(":")[0] for t in slack.texts()]
    assert kinds == ["[P2] FIRING", "[P2] RESOLVED", "[P2] FIRING"]
    assert state_of(db, "backlog_high") == [("resolved", False, True), ("firing", True, True)]


def test_a_firing_alert_escalates_after_its_delay_and_not_before(alerts, db, slack):
    alerts([backlog_rule()], escalate_after="30m", repeat_interval="4h")
    set_backlog(db, 500)
    evaluate_at(T0)
    assert [m["path"] for m in slack.messages] == [OPS]
    for minute in (1, 15, 29):
        evaluate_at(T0 + timedelta(minutes=minute, seconds=59 if minute == 29 else 0))
    assert len(slack.messages) == 1, slack.texts()  # not before 30 minutes

    evaluate_at(T0 + timedelta(minutes=30))
    assert len(slack.messages) == 2
    escalation = slack.messages[1]
    assert escalation["path"] == ONCALL  # one severity up: P1, the paging channel
    text = escalation["payload"]["text"]
    assert text.startswith("<!here> :red_circle: *[P1] ESCALATED: backlog_high* (escalated from P2: unresolved since")
    evaluate_at(T0 + timedelta(minutes=31))
    evaluate_at(T0 + timedelta(minutes=90))
    assert len(slack.messages) == 2  # escalated once

    evaluate_at(T0 + timedelta(hours=4, minutes=30))  # 4 h after the escalation: a reminder, still P1
    assert len(slack.messages) == 3
    assert slack.messages[2]["path"] == ONCALL
    assert slack.texts()[2].startswith(":red_circle: *[P1] STILL FIRING: backlog_high*")

    set_backlog(db, 0)
    evaluate_at(T0 + timedelta(hours=5))
    assert slack.messages[3]["path"] == ONCALL and "*[P1] RESOLVED: backlog_high*" in slack.texts()[3]


def test_each_severity_goes_to_its_own_connection(alerts, db, slack, monkeypatch):
    tokens = {sev: f"T0TEST/B0{sev}/route-{sev.lower()}" for sev in ("P0", "P1", "P2", "P3")}
    for sev, token in tokens.items():
        monkeypatch.setenv(
            f"AIRFLOW_CONN_SLACK_{sev}", json.dumps({"conn_type": "slackwebhook", "password": SLACK.url(token)})
        )
    routes = {sev: {"connection": f"slack_{sev.lower()}", "mention": ""} for sev in tokens}
    rules = [backlog_rule(name=f"backlog_{sev.lower()}", severity=sev) for sev in tokens]
    alerts(rules, routes=routes, escalate_after="30m")
    set_backlog(db, 500)
    evaluate_at(T0)
    got = {m["payload"]["text"].split("*")[1]: m["path"] for m in slack.messages}
    assert got == {f"[{sev}] FIRING: backlog_{sev.lower()}": f"/services/{tokens[sev]}" for sev in tokens}

    slack.clear()
    evaluate_at(T0 + timedelta(minutes=30))  # each escalates one up; P0 stays P0
    got = {m["payload"]["text"].split("*")[1]: m["path"] for m in slack.messages}
    assert got == {
        "[P0] ESCALATED: backlog_p0": f"/services/{tokens['P0']}",
        "[P0] ESCALATED: backlog_p1": f"/services/{tokens['P0']}",
        "[P1] ESCALATED: backlog_p2": f"/services/{tokens['P1']}",
        "[P2] ESCALATED: backlog_p3": f"/services/{tokens['P2']}",
    }


def test_a_silence_mutes_matching_alerts_until_it_ends(alerts, db, slack):
    silence = {
        "name": "maintenance window",
        "rule": "backlog_*",
        "starts_at": (T0 - timedelta(minutes=5)).isoformat(),
        "ends_at": (T0 + timedelta(minutes=10)).isoformat(),
    }
    alerts([backlog_rule(name="backlog_muted"), backlog_rule(name="other_loud", severity="P3")], silences=[silence])
    set_backlog(db, 500)
    evaluate_at(T0)
    evaluate_at(T0 + timedelta(minutes=5))
    assert [t.split("*")[1] for t in slack.texts()] == ["[P3] FIRING: other_loud"]
    muted = db.execute("SELECT state, silenced_by, notified FROM ops.alerts WHERE rule = 'backlog_muted'").fetchone()
    assert muted == ("firing", "maintenance window", False)  # evaluated and stored all the same

    evaluate_at(T0 + timedelta(minutes=10))  # the window is over and it still fires: sent now
    assert [t.split("*")[1] for t in slack.texts()] == ["[P3] FIRING: other_loud", "[P2] FIRING: backlog_muted"]


def test_a_silence_that_ends_after_the_alert_resolved_sends_nothing(alerts, db, slack):
    silence = {"name": "deploy", "rule": "backlog_high", "ends_at": (T0 + timedelta(hours=1)).isoformat()}
    alerts([backlog_rule()], silences=[silence], keep_firing_for="0s")
    set_backlog(db, 500)
    evaluate_at(T0)
    set_backlog(db, 0)
    evaluate_at(T0 + timedelta(minutes=1))
    evaluate_at(T0 + timedelta(hours=2))
    assert slack.texts() == []
    assert state_of(db, "backlog_high") == [("resolved", False, True)]


def test_a_dag_failing_for_30_minutes_escalates_one_above_its_severity(alerts, db, slack):
    rule = {
        "name": "dag_still_failing",
        "check": "dag_failing",
        "above": "30m",
        "severity": "dag+1",
        "escalate_after": "never",
        "summary": "a DAG has failed for 30 minutes",
        "advice": "see its failure alert",
    }
    alerts([rule], keep_firing_for="0s")
    dag = "analytics_mv_refresh"  # P2 in the shipped config
    db.execute(
        "INSERT INTO ops.dag_run_outcomes (dag_id, run_id, outcome, recorded_at) VALUES "
        "(%(d)s, 'r0', 'success', %(t)s - interval '2 hours'), "
        "(%(d)s, 'r1', 'failed', %(t)s - interval '20 minutes'), (%(d)s, 'r2', 'failed', %(t)s - interval '5 minutes')",
        {"d": dag, "t": T0},
    )
    evaluate_at(T0)
    assert slack.texts() == []  # failing for 20 minutes: its own failure alerts said so already
    evaluate_at(T0 + timedelta(minutes=10))  # exactly 30 minutes: not over
    assert slack.texts() == []
    evaluate_at(T0 + timedelta(minutes=11))
    assert len(slack.messages) == 1 and slack.messages[0]["path"] == ONCALL  # P2 + 1 = P1: paging
    text = slack.texts()[0]
    assert text.startswith(f"<!here> :red_circle: *[P1] FIRING: dag_still_failing{{item={dag}}}*")
    assert "failing for 31 min (2 failed run(s) in a row)" in text

    db.execute(
        "INSERT INTO ops.dag_run_outcomes (dag_id, run_id, outcome, recorded_at) VALUES (%s, 'r3', 'success', %s)",
        (dag, T0 + timedelta(minutes=12)),
    )
    evaluate_at(T0 + timedelta(minutes=13))
    assert len(slack.messages) == 2 and f"*[P1] RESOLVED: dag_still_failing{{item={dag}}}*" in slack.texts()[1]


def add_product_rule(db, name: str, **columns) -> int:
    values = {"metric": "tx_count", "threshold": 100, "window_minutes": 60, "comparator": ">", "severity": "P2",
              "merchant_id": None, "notify_connection": None, **columns}  # fmt: skip
    return db.execute(
        "INSERT INTO analytics_alert_rules (name, metric, threshold, window_minutes, comparator, severity, merchant_id,"
        " notify_connection) VALUES (%(name)s, %(metric)s, %(threshold)s, %(window_minutes)s, %(comparator)s, "
        "%(severity)s, %(merchant_id)s, %(notify_connection)s) RETURNING id",
        {"name": name, **values},
    ).fetchone()[0]


def test_product_rules_fire_to_their_own_webhook_and_a_broken_one_is_counted_and_alerted(
    alerts, db, slack, monkeypatch
):
    failures_rule = {
        "name": "alert_rules_failing",
        "check": "alert_rule_failures",
        "above": 10,
        "severity": "P2",
        "summary": "product rules failing",
        "advice": "fix them",
    }
    alerts([failures_rule], evaluator={"product_rules": True})
    merchant_token = "T0TEST/B0MERCHANT/merchant-hook"
    monkeypatch.setenv(
        "AIRFLOW_CONN_MERCHANT_HOOK", json.dumps({"conn_type": "slackwebhook", "password": SLACK.url(merchant_token)})
    )
    db.execute("DELETE FROM txn_hourly_agg WHERE merchant_id = 424242")
    db.execute(
        "INSERT INTO txn_hourly_agg (hour, merchant_id, currency, tx_count, gross_volume_local) VALUES "
        "(%(t)s - interval '30 minutes', 424242, 'EUR', 150, 9000), "
        "(%(t)s - interval '3 hours', 424242, 'EUR', 900, 1)",
        {"t": T0},
    )
    spike = add_product_rule(db, "merchant_spike", merchant_id=424242, notify_connection="merchant_hook")
    add_product_rule(db, "merchant_quiet", merchant_id=424242, comparator="<", threshold=10)
    broken = add_product_rule(db, "typo_metric", metric="tx_cnt")

    for minute in range(11):
        evaluation = evaluate_at(T0 + timedelta(minutes=minute))
        assert evaluation.rule_failures == [
            "typo_metric: unknown metric 'tx_cnt' (known: tx_count, gross_volume_local)"
        ]
    spike_messages = [m for m in slack.messages if "merchant_spike" in m["payload"]["text"]]
    assert len(spike_messages) == 1 and spike_messages[0]["path"] == f"/services/{merchant_token}"
    text = spike_messages[0]["payload"]["text"]
    assert "*[P2] FIRING: product:merchant_spike{rule_id=" in text
    assert "tx_count = 150 over the last 60 min (merchant 424242, 1 hourly row(s))" in text and "> 100" in text
    assert not any("merchant_quiet" in t for t in slack.texts())
    # runbook 004's own table shows the rule firing
    assert db.execute("SELECT rule_id, status FROM analytics_alerts").fetchall() == [(spike, "open")]

    counted = db.execute("SELECT rule_id, count(*) FROM ops.alert_rule_failures GROUP BY 1").fetchall()
    assert counted == [(broken, 11)]
    failing = [t for t in slack.texts() if "alert_rules_failing" in t]
    assert len(failing) == 1, slack.texts()  # 11 in the hour: over 10
    assert "11 failed evaluation(s) of 1 rule(s) in the last hour" in failing[0]
    assert "typo_metric: 11x, newest: unknown metric 'tx_cnt'" in failing[0]

    db.execute("UPDATE analytics_alert_rules SET is_active = false WHERE id = %s", (spike,))
    evaluate_at(T0 + timedelta(minutes=12))  # a rule switched off resolves its alert
    assert "*[P2] RESOLVED: product:merchant_spike" in slack.texts()[-1]
    assert db.execute("SELECT status FROM analytics_alerts WHERE rule_id = %s", (spike,)).fetchone() == ("resolved",)


def test_a_product_rule_whose_webhook_fails_is_sent_on_its_route_and_counted(alerts, db, slack):
    alerts([], evaluator={"product_rules": True})
    db.execute("DELETE FROM txn_hourly_agg WHERE merchant_id = 424243")
    db.execute(
        "INSERT INTO txn_hourly_agg (hour, merchant_id, currency, tx_count, gross_volume_local) "
        "VALUES (%s, 424243, 'EUR', 500, 1)",
        (T0 - timedelta(minutes=10),),
    )
    rule = add_product_rule(db, "no_such_hook", merchant_id=424243, notify_connection="no_such_connection")
    evaluate_at(T0)
    assert [m["path"] for m in slack.messages] == [OPS]
    failure = db.execute("SELECT rule_id, error FROM ops.alert_rule_failures").fetchone()
    assert failure[0] == rule and failure[1].startswith("notify_connection: ")
    assert db.execute("SELECT notified FROM ops.alerts WHERE rule = 'product:no_such_hook'").fetchone() == (True,)


def test_the_shipped_rules_all_evaluate_on_the_test_database(db, slack):
    from analytics_ops.alerting.rules import validate_rules

    config = load_config()
    validate_rules(config)
    evaluation = evaluate_at(datetime.now(UTC))
    assert evaluation.rules >= len(config.alerting.rules)
    assert evaluation.store == "primary" and evaluation.undelivered == []
    heartbeat = db.execute("SELECT rules FROM ops.alert_evaluator_heartbeat").fetchone()
    assert heartbeat == (evaluation.rules,)
    db.execute("TRUNCATE ops.alerts, ops.alert_notifications")


def test_the_primary_going_down_is_reported_without_the_primary(alerts, db, slack, monkeypatch):
    """Through the DAG (dag.test): while the primary refuses connections, state lives in Airflow."""
    from airflow.dag_processing.dagbag import DagBag

    from analytics_ops.alerting.store import FALLBACK_VARIABLE

    down = {"conn_type": "postgres", "host": "127.0.0.1", "port": 9, "login": "x", "password": "x", "schema": "x"}
    monkeypatch.setenv("AIRFLOW_CONN_ANALYTICS_DB_DOWN", json.dumps(down))
    rule = {
        "name": "primary_unreachable",
        "check": "postgres_reachable",
        "when": "unmeasurable",
        "pending_for": "1m",
        "severity": "P0",
        "summary": "the primary does not answer",
        "advice": "runbook 001 P0",
    }
    backlog = backlog_rule(name="backlog_needs_primary")
    # A rule that starts incident exports: without the primary it asks for nothing and breaks nothing.
    spike = next(r for r in DEFAULT_RULES if r["name"] == "usage_error_rate_spike")

    def run_at(minute: int, primary: str):
        alerts(
            [rule, backlog, spike],
            sections={"connections": {"primary": primary}, "incident_export": {"start_on_alerts": [spike["name"]]}},
            keep_firing_for="0s",
            evaluator={"product_rules": True, "connect_timeout": "2s"},
        )
        bag = DagBag(dag_folder=str(DAG_FILE))
        run = test_run(bag.get_dag("analytics_alert_evaluator"), logical_date=T0 + timedelta(minutes=minute))
        assert run.state == "success", f"minute {minute}: {run.state}"

    set_backlog(db, 500)
    run_at(0, "analytics_db_down")
    assert slack.texts() == []  # pending: down for less than a minute
    run_at(1, "analytics_db_down")
    assert len(slack.messages) == 1 and slack.messages[0]["path"] == ONCALL
    assert slack.texts()[0].startswith("<!here> :rotating_light: *[P0] FIRING: primary_unreachable*")
    run_at(2, "analytics_db_down")
    assert len(slack.messages) == 1  # once
    assert db.execute("SELECT count(*) FROM ops.alerts").fetchone() == (0,)  # nothing reached the primary

    run_at(3, "analytics_db")  # back: resolved, and the episode is merged into ops.alerts
    heads = sorted(t.split("*")[1] for t in slack.texts()[1:])
    assert heads == ["[P0] RESOLVED: primary_unreachable", "[P2] FIRING: backlog_needs_primary"]
    rows = db.execute("SELECT rule, state, active_since, firing_since FROM ops.alerts ORDER BY rule").fetchall()
    assert ("primary_unreachable", "resolved", T0, T0 + timedelta(minutes=1)) in rows
    assert any(r[0] == "backlog_needs_primary" and r[1] == "firing" for r in rows)  # judged again once it answers

    from airflow.models.variable import Variable

    assert Variable.get(FALLBACK_VARIABLE, default_var=None) is None  # merged and removed
    assert db.execute("SELECT count(*) FROM ops.incident_exports WHERE alert_rule IS NOT NULL").fetchone() == (0,)
