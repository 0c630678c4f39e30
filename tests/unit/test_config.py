"""The config file: the shipped one parses; mistakes fail naming the key."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from analytics_ops.core.config import DEFAULT_CONFIG_PATH, ConfigError, load_config, parse_config

SHIPPED = DEFAULT_CONFIG_PATH.read_text()


def parse(text: str):
    return parse_config(text, Path("test.yaml"))


def test_shipped_config_parses_with_runbook_defaults():
    config = parse(SHIPPED)
    assert config.aggregation.max_backfill_days == 366
    assert config.database.lock_timeout == timedelta(seconds=5)
    assert config.dag("analytics_daily_aggregation").severity == "P1"
    assert config.dag("analytics_daily_aggregation").deadline == timedelta(hours=1)
    assert config.connections.primary == "analytics_db"


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("aggregation:\n  max_backfil_days: 10\n", "aggregation.max_backfil_days: unknown key"),
        ("aggregation:\n  max_backfill_days: many\n", "aggregation.max_backfill_days: Input should be a valid integer"),
        (
            "aggregation:\n  max_backfill_days: 0\n",
            "aggregation.max_backfill_days: Input should be greater than or equal to 1",
        ),
        ("database:\n  lock_timeout: 5 parsecs\n", "database.lock_timeout: Value error, '5 parsecs' is not a duration"),
        ("dags:\n  analytics_daily_aggregation:\n    severity: P9\n", "dags.analytics_daily_aggregation.severity"),
        ("dag_defaults:\n  retry_delay: 10m\n  max_retry_delay: 1m\n", "max_retry_delay must not be shorter"),
        (
            "transactions:\n  anomaly_history_hours: 12\n  anomaly_min_history_hours: 24\n",
            "anomaly_min_history_hours (24) is over anomaly_history_hours (12): no merchant could ever be judged",
        ),
        (
            "transactions:\n  anomaly_z_threshold: 0\n",
            "transactions.anomaly_z_threshold: Input should be greater than 0",
        ),
        ("- a\n- b\n", "the top level must be a mapping"),
        ("aggregation: [\n", "not valid YAML"),
    ],
)
def test_mistakes_fail_naming_the_key(yaml_text, message):
    with pytest.raises(ConfigError) as raised:
        parse(yaml_text)
    assert message in str(raised.value)
    assert "test.yaml" in str(raised.value)


def test_durations_in_every_unit():
    config = parse("database:\n  lock_timeout: 250ms\n  statement_timeout: 2h\ndag_defaults:\n  retry_delay: 30s\n")
    assert config.database.lock_timeout == timedelta(milliseconds=250)
    assert config.database.statement_timeout == timedelta(hours=2)
    assert config.dag_defaults.retry_delay == timedelta(seconds=30)


def test_the_environment_points_at_another_file(tmp_path, monkeypatch):
    other = tmp_path / "ops.yaml"
    other.write_text("aggregation:\n  max_backfill_days: 7\n")
    monkeypatch.setenv("ANALYTICS_OPS_CONFIG", str(other))
    assert load_config().aggregation.max_backfill_days == 7
    other.write_text("aggregation:\n  max_backfill_days: 9\n")
    assert load_config().aggregation.max_backfill_days == 9  # re-read when the file changes
    monkeypatch.setenv("ANALYTICS_OPS_CONFIG", str(tmp_path / "missing.yaml"))
    with pytest.raises(ConfigError, match="cannot be read"):
        load_config()


RULE = "alerting:\n  rules:\n    - {name: r, check: staging_backlog, severity: P2, summary: s, advice: a, %s}\n"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ("above: 1, below: 2", "give exactly one of when, above, below (got ['above', 'below'])"),
        ("severity: dag+1, above: 1", "severity dag+1 is only for rules on the dag_failing check"),
        ("when: sometimes", "alerting.rules.0.when"),
        ("above: 5 parsecs", "alerting.rules.0.above"),
        ("above: 1, pending_for: soon", "alerting.rules.0.pending_for"),
    ],
)
def test_alert_rule_mistakes_fail_naming_the_rule(fields, message):
    text = RULE % fields
    if "severity: dag+1" in fields:
        text = text.replace("severity: P2, ", "")
    with pytest.raises(ConfigError) as raised:
        parse(text)
    assert message in str(raised.value)


def test_alert_rules_thresholds_read_durations_as_seconds_and_names_are_unique():
    config = parse(RULE % "above: 30m")
    assert config.alerting.rules[0].above == 1800
    with pytest.raises(ConfigError, match="two rules are named r"):
        parse(RULE % "above: 1" + "    - {name: r, check: x, when: critical, severity: P1, summary: s, advice: a}\n")


def test_a_silence_needs_a_time_zone_and_an_end_after_its_start():
    base = "alerting:\n  silences:\n    - {name: m, rule: '*', %s}\n"
    with pytest.raises(ConfigError, match="ends_at needs a time zone"):
        parse(base % "ends_at: '2026-12-06T02:00:00'")
    with pytest.raises(ConfigError, match="ends_at must come after starts_at"):
        parse(base % "starts_at: '2026-12-06T02:00:00+00:00', ends_at: '2026-12-06T01:00:00+00:00'")


def test_a_rule_on_a_check_that_does_not_exist_fails_the_evaluators_parse():
    from analytics_ops.alerting.rules import validate_rules

    validate_rules(parse(SHIPPED))  # the shipped rules name real checks
    with pytest.raises(ValueError, match=r"unknown check in r \(check 'no_such_check'\)"):
        validate_rules(parse(RULE.replace("staging_backlog", "no_such_check") % "above: 1"))


def test_every_shipped_alert_rule_is_in_the_evaluators_documentation():
    doc = (DEFAULT_CONFIG_PATH.parents[1] / "dags" / "analytics_alert_evaluator.py").read_text()
    for rule in parse(SHIPPED).alerting.rules:
        assert f"| `{rule.name}` |" in doc, f"{rule.name} is not in the rule table of analytics_alert_evaluator"


def test_exports_start_only_on_configured_rules_of_per_org_and_model_checks():
    import yaml

    shipped = parse(SHIPPED)
    assert shipped.incident_export.start_on_alerts == ["usage_error_rate_spike"]
    assert shipped.incident_export.alert_window == timedelta(minutes=20)
    raw = yaml.safe_load(SHIPPED)

    def with_exports(**settings) -> str:
        return yaml.safe_dump({**raw, "incident_export": {**raw["incident_export"], **settings}})

    with pytest.raises(ConfigError, match=r"start_on_alerts: 'usage_error_rate_spyke' is not a rule of alerting.rules"):
        parse(with_exports(start_on_alerts=["usage_error_rate_spike", "usage_error_rate_spyke"]))
    with pytest.raises(ConfigError, match=r"rule 'replica_lagging' watches 'replica_lag', which is not per org"):
        parse(with_exports(start_on_alerts=["replica_lagging"]))
    with pytest.raises(ConfigError, match="alert_window must be over 0"):
        parse(with_exports(alert_window="0s"))
    assert parse(with_exports(start_on_alerts=["usage_error_rate_high"])).incident_export.start_on_alerts == [
        "usage_error_rate_high"
    ]
    # Without the section (or with rules of their own and no exports) nothing starts by itself.
    assert parse(RULE % "above: 1").incident_export.start_on_alerts == []


def test_the_per_org_and_model_checks_are_the_usage_checks():
    from analytics_ops.alerting.checks import ALERTING_CHECKS
    from analytics_ops.core.settings_exports import ORG_MODEL_CHECKS

    assert set(ORG_MODEL_CHECKS) == {check.name for check in ALERTING_CHECKS if check.name.startswith("usage_")}
