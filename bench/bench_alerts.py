"""One evaluation of every continuous alert rule (analytics_alert_evaluator's task body) on the demo data,
against the same measurements typed into one psql session.

Ours: `alerting.evaluator.evaluate` with the shipped rules and the demo's product rules, each trial one
simulated minute later (so the state machine, the stored alerts and the Slack messages are real
work): every check on its own session as the suite opens them (timeouts, application name), the
replica measured from both sides, Redis pinged, the state locked, advanced and written, messages
posted to the local Slack stand-in. Baseline: the checks' and the product rules' SQL with values
inlined, in one psql session (what a cron + psql script would run). No target: the number that
matters is that one evaluation fits well inside its minute; the ratio says what the suite's
sessions, state and notifications cost on top of the bare queries.

The end-to-end time of one evaluator run on a real scheduler (what Airflow adds) is measured by
tests/e2e/test_alert_evaluator_on_celery.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bench.common import alternate, ensure_database, psql, render, report, use_database

DBNAME = "aops_bench_alerts"


def _baseline_script(now: datetime) -> str:
    from analytics_ops.core.db import sql_file

    statements = [
        ("SELECT current_setting('server_version')", {}),
        (sql_file("health/connections"), {}),
        (sql_file("replication/primary_lag"), {}),
        (sql_file("health/freshness"), {}),
        (sql_file("health/staging_backlog"), {}),
        (sql_file("health/last_success"), {"task_id": "refresh_view", "dag_id": None}),
        (sql_file("alerting/dag_failing"), {"now": now}),
        (sql_file("alerting/rule_failures"), {"now": now}),
        (sql_file("alerting/product_rules"), {}),
        (
            sql_file("alerting/product_rule_values"),
            {"now": now, "ids": [1, 2], "windows": [60, 60], "merchants": [None, None]},
        ),  # fmt: skip
        ("SELECT * FROM ops.alerts WHERE state IN ('pending', 'firing') OR notified", {}),
    ]
    return ";\n".join(render(statement, params) for statement, params in statements) + ";\n"


def run() -> list[dict]:
    from analytics_ops.alerting.evaluator import evaluate
    from analytics_ops.core.config import load_config
    from analytics_ops.core.db import connect
    from analytics_ops.demo.data import DemoScale, load_demo_data

    ensure_database(DBNAME)
    with connect(application_name="analytics-ops:bench") as conn:
        result = load_demo_data(conn, DemoScale())
    print(f"  {DBNAME}: {'generated' if result.loaded else 'reused'} demo data ({result.tasks:,} tasks)", flush=True)
    use_database(DBNAME)
    with connect(application_name="analytics-ops:bench") as conn:
        conn.execute("TRUNCATE ops.alerts, ops.alert_notifications, ops.alert_rule_failures")
    config = load_config()
    clock = {"now": datetime.now(UTC).replace(second=0, microsecond=0)}
    durations: list[float] = []

    def ours() -> None:
        clock["now"] += timedelta(minutes=1)
        evaluation = evaluate(config, clock["now"], dag_id="bench", run_id="bench", task_id="evaluate",
                              use_fallback=False)  # fmt: skip
        durations.append(evaluation.duration_ms)
        if evaluation.undelivered:
            raise RuntimeError(f"notifications not delivered: {evaluation.undelivered}")

    script = _baseline_script(clock["now"])

    def baseline() -> None:
        psql(DBNAME, script)

    ours()  # the first evaluation opens the alerts the demo data fires; the trials keep them
    ours_s, base_s = alternate(ours, baseline, reset=lambda: None, trials=7)
    rules = len(config.alerting.rules)
    return [
        report(
            f"one evaluation of {rules} ops rules + the demo's product rules vs their SQL in one psql session",
            ours_s,
            base_s,
            "none (must fit well inside its minute)",
            True,
            f"evaluations took {min(durations):.0f}-{max(durations):.0f} ms by their own clock",
        )
    ]
