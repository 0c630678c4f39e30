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
