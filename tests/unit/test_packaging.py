"""The distribution's metadata, the package files, the DAG-folder loader and the `analytics-ops` command.

No service: the installed-wheel path against the real stack is tests/test_install_path.py.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from analytics_ops import cli, dag_folder
from analytics_ops.core.package_files import PROJECT_ROOT, shipped_folder

PYPROJECT = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        if match := re.match(r"^([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==(\S+)", line):
            pins[match.group(1).lower().replace("_", "-")] = match.group(2)
    return pins


def test_runtime_dependencies_are_ranges_that_hold_our_pins() -> None:
    declared = [Requirement(r) for r in PYPROJECT["project"]["dependencies"]]
    assert declared, "pip install analytics-ops must bring what the library imports"
    pinned = _pins(PROJECT_ROOT / "requirements.txt")
    for requirement in declared:
        name = requirement.name.lower()
        assert name in pinned, f"{name}: pin it in requirements.txt too"
        assert not any(s.operator == "==" for s in requirement.specifier), f"{name}: a range, not a pin"
        assert requirement.specifier.contains(pinned[name]), f"{name}: {requirement.specifier} excludes {pinned[name]}"


def test_every_library_package_is_in_the_wheel() -> None:
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    library = PROJECT_ROOT / "include"
    found = {".".join(p.parent.relative_to(library).parts) for p in library.glob("analytics_ops/**/__init__.py")}
    assert found <= listed, f"add to pyproject.toml's packages: {sorted(found - listed)}"
    mapped = PYPROJECT["tool"]["setuptools"]["package-dir"]
    for folder in ("dags", "sql", "config", "deploy"):
        assert mapped[f"analytics_ops.{folder}"] == folder
        assert shipped_folder(folder) == PROJECT_ROOT / folder  # in the checkout: the top-level folder


def test_the_plugin_and_the_command_are_declared() -> None:
    plugins = PYPROJECT["project"]["entry-points"]["airflow.plugins"]
    module, _, attr = plugins["analytics_ops"].partition(":")
    plugin = getattr(__import__(module, fromlist=[attr]), attr)
    assert plugin.name == "analytics_ops" and plugin.fastapi_apps
    assert PYPROJECT["project"]["scripts"]["analytics-ops"] == "analytics_ops.cli:main"
    assert not list((PROJECT_ROOT / "plugins").glob("*.py")), "registered twice: the entry point is the one place"


def test_an_unknown_shipped_folder_is_refused() -> None:
    with pytest.raises(ValueError, match="not shipped"):
        shipped_folder("tests")


@pytest.fixture
def no_config_variable(monkeypatch):
    # Recorded first, so the variable a loader file sets is removed again after the test.
    monkeypatch.setenv("ANALYTICS_OPS_CONFIG", "unset")
    monkeypatch.delenv("ANALYTICS_OPS_CONFIG")


@pytest.fixture
def bag_of():
    from airflow.dag_processing.dagbag import DagBag

    def bag(folder: Path):
        result = DagBag(dag_folder=str(folder))
        assert result.import_errors == {}
        return result

    return bag


def test_the_loader_file_yields_the_same_dags_as_the_dags_folder(tmp_path, bag_of, no_config_variable) -> None:
    (tmp_path / dag_folder.LOADER_FILE_NAME).write_text(dag_folder.loader_file(enabled=None, config=None))
    loaded, reference = bag_of(tmp_path), bag_of(PROJECT_ROOT / "dags")
    assert sorted(loaded.dags) == sorted(reference.dags) == dag_folder.suite_dag_ids()
    for dag_id, dag in loaded.dags.items():
        assert dag.doc_md == reference.get_dag(dag_id).doc_md
        assert sorted(dag.task_ids) == sorted(reference.get_dag(dag_id).task_ids)
        assert Path(dag.fileloc) == tmp_path / dag_folder.LOADER_FILE_NAME


def test_the_loader_file_loads_only_the_enabled_dags_with_its_config(tmp_path, bag_of, no_config_variable) -> None:
    config = tmp_path / "suite.yaml"
    config.write_text((shipped_folder("config") / "analytics_ops.yaml").read_text())
    dags = tmp_path / "dags"
    dags.mkdir()
    text = dag_folder.loader_file(enabled=["analytics_stuck_work", "analytics_health_check"], config=config)
    (dags / dag_folder.LOADER_FILE_NAME).write_text(text)
    assert sorted(bag_of(dags).dags) == ["analytics_health_check", "analytics_stuck_work"]
    assert os.environ["ANALYTICS_OPS_CONFIG"] == str(config)


def test_the_loader_refuses_an_unknown_dag_and_a_config_other_than_the_environments(monkeypatch) -> None:
    with pytest.raises(ValueError, match="unknown analytics-ops DAG.*analytics_typo"):
        dag_folder.check_enabled(["analytics_stuck_work", "analytics_typo"])
    monkeypatch.setenv("ANALYTICS_OPS_CONFIG", "/etc/one.yaml")
    with pytest.raises(ValueError, match="/etc/one.yaml.*/etc/other.yaml"):
        dag_folder.use_config("/etc/other.yaml")


def test_check_config_prints_every_problem_with_its_key(tmp_path, capsys) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("database:\n  lock_timeout: banana\nnope: 1\ndags:\n  x:\n    severity: P9\n")
    assert cli.main(["check-config", str(bad)]) == 1
    err = capsys.readouterr().err
    for key in ("database.lock_timeout", "nope: unknown key", "dags.x.severity"):
        assert key in err
    assert cli.main(["check-config", str(shipped_folder("config") / "analytics_ops.yaml")]) == 0
    assert "valid" in capsys.readouterr().out
    assert cli.main(["check-config", str(tmp_path / "missing.yaml")]) == 1
    assert "cannot be read" in capsys.readouterr().err
    # What only the evaluator DAG's parse found before: a rule naming a check that does not exist.
    rule = tmp_path / "rule.yaml"
    shipped = (shipped_folder("config") / "analytics_ops.yaml").read_text()
    rule.write_text(shipped.replace("check: postgres_reachable", "check: postgres_reachabel", 1))
    assert cli.main(["check-config", str(rule)]) == 1
    assert (
        "alerting.rules: unknown check in primary_unreachable (check 'postgres_reachabel')" in capsys.readouterr().err
    )


def test_install_dags_writes_the_loader_once_and_refuses_what_it_cannot_do(tmp_path, capsys) -> None:
    assert cli.main(["install-dags", "--dags-folder", str(tmp_path), "--dags", "analytics_stuck_work"]) == 0
    written = (tmp_path / dag_folder.LOADER_FILE_NAME).read_text()
    assert "'analytics_stuck_work'" in written and "CONFIG = None" in written
    assert cli.main(["install-dags", "--dags-folder", str(tmp_path), "--dags", "analytics_stuck_work"]) == 0
    assert cli.main(["install-dags", "--dags-folder", str(tmp_path)]) == 1
    assert "--force" in capsys.readouterr().err
    assert cli.main(["install-dags", "--dags-folder", str(tmp_path), "--force"]) == 0
    assert "ENABLED_DAGS = None" in (tmp_path / dag_folder.LOADER_FILE_NAME).read_text()
    assert cli.main(["install-dags", "--dags-folder", str(tmp_path / "nope")]) == 1
    assert cli.main(["install-dags", "--dags-folder", str(tmp_path), "--dags", "analytics_typo", "--force"]) == 1
    assert "analytics_typo" in capsys.readouterr().err


def test_bootstrap_prints_its_sql_and_applies_only_with_the_passwords_in_the_environment(capsys, monkeypatch) -> None:
    assert cli.main(["bootstrap"]) == 0
    out = capsys.readouterr().out
    assert "\\getenv ops_password ANALYTICS_OPS_PASSWORD" in out and "cluster.sql" in out and "database.sql" in out
    monkeypatch.delenv("ANALYTICS_OPS_PASSWORD", raising=False)
    monkeypatch.setenv("ANALYTICS_REPLICATION_PASSWORD", "x")
    assert cli.main(["bootstrap", "--apply"]) == 1
    assert "ANALYTICS_OPS_PASSWORD in the environment" in capsys.readouterr().err


def test_every_command_has_help(capsys) -> None:
    for command in ("check-config", "bootstrap", "migrate", "install-dags", "version"):
        with pytest.raises(SystemExit) as done:
            cli.main([command, "--help"])
        assert done.value.code == 0
        assert f"usage: analytics-ops {command}" in capsys.readouterr().out
    assert cli.main(["version"]) == 0
    assert re.match(r"analytics-ops \d+\.\d+\.\d+ \(Airflow 3\.", capsys.readouterr().out)


def test_parsing_the_loader_file_opens_no_connection_and_imports_no_client(tmp_path) -> None:
    # As tests/unit/test_dag_policy.py checks dags/: every server a listener that counts who connects.
    from tests.unit.test_dag_policy import _ConnectionCounter

    (tmp_path / dag_folder.LOADER_FILE_NAME).write_text(dag_folder.loader_file(enabled=None, config=None))
    counter = _ConnectionCounter()
    try:
        pg = {"conn_type": "postgres", "host": "127.0.0.1", "port": counter.port, "login": "x", "schema": "x"}
        env = {
            **os.environ,
            "AIRFLOW_CONN_ANALYTICS_DB": json.dumps(pg),
            "AIRFLOW_CONN_ANALYTICS_DB_REPLICA": json.dumps(pg),
            "AIRFLOW_CONN_ANALYTICS_REDIS": json.dumps(
                {"conn_type": "redis", "host": "127.0.0.1", "port": counter.port}
            ),
            "AIRFLOW_CONN_SLACK_OPS": json.dumps(
                {"conn_type": "slackwebhook", "password": f"http://127.0.0.1:{counter.port}/hook"}
            ),
        }
        env.pop("ANALYTICS_OPS_CONFIG", None)
        script = (
            "import json, sys\n"
            "from airflow.dag_processing.dagbag import DagBag\n"
            f"bag = DagBag(dag_folder={str(tmp_path)!r})\n"
            "assert not bag.import_errors, bag.import_errors\n"
            "heavy = sorted(m for m in ('psycopg', 'redis', 'slack_sdk', 'pandas') if m in sys.modules)\n"
            "print(json.dumps({'dags': len(bag.dags), 'heavy': heavy}))\n"
        )
        done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        report = json.loads(done.stdout.strip().splitlines()[-1])
        assert report["dags"] == len(dag_folder.suite_dag_ids())
        assert counter.accepted == 0, "parsing the loader file opened a network connection"
        assert report["heavy"] == [], f"database/network clients imported at parse time: {report['heavy']}"
    finally:
        counter.close()
