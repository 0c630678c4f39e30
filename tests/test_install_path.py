"""The install path of a team that already runs Airflow (README: "Add the suite to an existing Airflow").

The wheel is built with the standard tooling (`pip wheel`, as the Dockerfile does) from the files the
Dockerfile copies, installed into a fresh virtualenv that holds only Airflow and the wheel (with what
the wheel's metadata asks for), and run with a fresh AIRFLOW_HOME, an empty DAG folder and an empty
plugins folder: nothing of this checkout is on that Python's path. Then the commands a team types:
`analytics-ops check-config`, `migrate` (into a database of its own on the local stack, bootstrapped
like any other), `install-dags`; the DAG folder is parsed and a writing DAG (the daily aggregation)
and the health check run with dag.test() against the real primary, replica, Redis and Slack stand-in;
and `airflow plugins` shows the Ops page loaded from the package's entry point.

About two minutes, most of it pip installing Airflow from the local index into the fresh virtualenv.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from psycopg import sql

from tests.conftest import (
    PG_PORT,
    REPLICA_PORT,
    ROOT,
    admin_connect,
    bootstrap_database,
    pg_conn_json,
    superuser_connect,
    wait_for_replica,
)

pytestmark = pytest.mark.install_path

DATABASE = "aops_install_path"
# What the Dockerfile's builder stage copies: the wheel is built from these and nothing else.
WHEEL_SOURCES = ("pyproject.toml", "README.md", "include", "dags", "sql", "config", "deploy")
LOADER = "analytics_ops_dags.py"


@dataclass
class Installed:
    root: Path
    venv: Path
    dags: Path
    config: Path
    env: dict[str, str]

    def run(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
        done = subprocess.run(list(args), env=self.env, cwd=self.root, capture_output=True, text=True, timeout=timeout)
        if check:
            assert done.returncode == 0, f"{' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
        return done

    def command(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return self.run(str(self.venv / "bin" / "analytics-ops"), *args, check=check)

    def python(self, script: str) -> dict:
        done = self.run(str(self.venv / "bin" / "python"), "-c", script)
        return json.loads(done.stdout.strip().splitlines()[-1])


def _pip(*args: str | Path) -> None:
    subprocess.run([*map(str, args)], check=True, capture_output=True, text=True, timeout=600)


def _airflow_pin() -> str:
    return re.search(r"^apache-airflow==(\S+)", (ROOT / "requirements.txt").read_text(), re.M).group(1)


@pytest.fixture(scope="module")
def database() -> str:
    """A database of its own, bootstrapped as a DBA would (the stack's `deploy/bootstrap.sh`), empty."""
    with superuser_connect() as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DATABASE)))
    bootstrap_database(DATABASE)
    yield DATABASE
    with superuser_connect() as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DATABASE)))


@pytest.fixture(scope="module")
def installed(tmp_path_factory, database) -> Installed:
    root = tmp_path_factory.mktemp("install-path")
    source, dist, venv = root / "src", root / "dist", root / "venv"
    for name in WHEEL_SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            source.mkdir(exist_ok=True)
            shutil.copy2(path, source / name)
    _pip(sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", dist, source)
    (wheel,) = dist.glob("analytics_ops-*.whl")
    # Only Airflow, then the wheel: what the wheel needs besides Airflow must come from its metadata.
    _pip(sys.executable, "-m", "venv", venv)
    constraints = ROOT / "constraints.txt"
    _pip(venv / "bin" / "pip", "install", "-q", f"apache-airflow=={_airflow_pin()}", "-c", constraints)
    _pip(venv / "bin" / "pip", "install", "-q", wheel, "-c", constraints)

    dags, plugins, home = root / "dags", root / "plugins", root / "airflow"
    for folder in (dags, plugins, home):
        folder.mkdir()
    env = {
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
        "HOME": str(root),
        "LANG": "C.UTF-8",
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(plugins),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        # The servers: the local stack's (this session's Redis database, Slack stand-in and backups folder).
        "AIRFLOW_CONN_ANALYTICS_DB": pg_conn_json(PG_PORT, database),
        "AIRFLOW_CONN_ANALYTICS_DB_REPLICA": pg_conn_json(REPLICA_PORT, database),
        **{
            k: os.environ[k]
            for k in ("AIRFLOW_CONN_ANALYTICS_REDIS", "AIRFLOW_CONN_SLACK_OPS", "AIRFLOW_CONN_SLACK_ONCALL")
        },
        "ANALYTICS_OPS_BACKUP_DESTINATION": os.environ["ANALYTICS_OPS_BACKUP_DESTINATION"],
    }
    config = root / "analytics_ops.yaml"
    result = Installed(root=root, venv=venv, dags=dags, config=config, env=env)
    shipped = result.python(
        "import json, analytics_ops.core.config as c; print(json.dumps({'path': str(c.DEFAULT_CONFIG_PATH)}))"
    )["path"]
    assert shipped.startswith(str(venv)), f"the packaged config is read from {shipped}, not the installed package"
    shutil.copy(shipped, config)
    env["ANALYTICS_OPS_CONFIG"] = str(config)
    result.run(str(venv / "bin" / "airflow"), "db", "migrate")
    return result


def test_nothing_of_the_checkout_is_on_the_fresh_path(installed) -> None:
    where = installed.python(
        "import json, sys, analytics_ops, airflow; "
        "print(json.dumps({'paths': sys.path, 'package': analytics_ops.__file__, 'airflow': airflow.__file__}))"
    )
    assert where["package"].startswith(str(installed.venv)) and where["airflow"].startswith(str(installed.venv))
    assert not any(p.startswith(str(ROOT)) for p in where["paths"]), where["paths"]
    assert "analytics-ops 0.1.0" in installed.command("version").stdout


def test_check_config_names_every_bad_key(installed) -> None:
    assert "valid" in installed.command("check-config", str(installed.config)).stdout
    broken = installed.root / "broken.yaml"
    broken.write_text(installed.config.read_text().replace("lock_timeout:", "lock_timeoutt:", 1) + "\nextra: 1\n")
    done = installed.command("check-config", str(broken), check=False)
    assert done.returncode == 1
    assert "database.lock_timeoutt: unknown key" in done.stderr and "extra: unknown key" in done.stderr


def test_migrate_applies_the_packaged_schema(installed) -> None:
    shipped = sorted(p.name for p in (ROOT / "sql" / "migrations").glob("*.sql"))
    out = installed.command("migrate").stdout
    assert out.startswith(f"migrations: applied {shipped}; 0 already applied"), out
    assert f"applied none; {len(shipped)} already applied" in installed.command("migrate").stdout


def test_install_dags_gives_the_suite_dags_unchanged_and_parsing_touches_nothing(installed) -> None:
    installed.command("install-dags", "--dags-folder", str(installed.dags), "--config", str(installed.config))
    assert [p.name for p in installed.dags.iterdir()] == [LOADER]
    parsed = installed.python(
        "import json, sys\n"
        "from airflow.dag_processing.dagbag import DagBag\n"
        "bag = DagBag()\n"
        "heavy = sorted(m for m in ('psycopg', 'redis', 'slack_sdk') if m in sys.modules)\n"
        "print(json.dumps({'errors': {k: str(v) for k, v in bag.import_errors.items()}, 'heavy': heavy,\n"
        "  'dags': {i: {'doc_md': d.doc_md, 'fileloc': d.fileloc} for i, d in bag.dags.items()}}))\n"
    )
    assert parsed["errors"] == {}
    assert parsed["heavy"] == [], "database/network clients imported at parse time"
    files = sorted((ROOT / "dags").glob("*.py"))
    assert sorted(parsed["dags"]) == [p.stem for p in files]
    for path in files:
        got = parsed["dags"][path.stem]
        assert got["doc_md"] == ast.get_docstring(ast.parse(path.read_text()), clean=False), path.stem
        assert got["fileloc"] == str(installed.dags / LOADER)


def _dag_test(installed: Installed, dag_id: str, **kwargs: str) -> dict:
    # dag.test() without the deadline alert, as tests/dag_runs.py says why (Airflow 3.3.2).
    return installed.python(
        "import json\n"
        "from datetime import datetime\n"
        "from airflow.dag_processing.dagbag import DagBag\n"
        f"dag = DagBag().get_dag({dag_id!r})\n"
        "dag.deadline = None\n"
        f"run = dag.test(logical_date=datetime.fromisoformat({kwargs['logical_date']!r}), "
        f"run_conf={kwargs.get('run_conf', {})!r})\n"
        "print(json.dumps({'state': run.state, 'run_id': run.run_id,\n"
        "  'tasks': {ti.task_id: ti.state for ti in run.get_task_instances()}}))\n"
    )


def test_a_writing_dag_and_the_health_check_run_from_the_installed_package(installed, database) -> None:
    installed.command("install-dags", "--dags-folder", str(installed.dags), "--config", str(installed.config))
    if "already applied" not in installed.command("migrate").stdout:
        pytest.fail("the schema must be in place")
    day = (datetime.now(UTC) - timedelta(days=1)).date()
    installed.command("load-demo", "--users", "40", "--days", "3", "--tasks-per-day", "5", "--force")
    with admin_connect(database) as conn:
        conn.execute("DELETE FROM daily_analytics WHERE date = %s", (day,))
    wait_for_replica()

    aggregation = _dag_test(
        installed,
        "analytics_daily_aggregation",
        logical_date=datetime.now(UTC).isoformat(),
        run_conf={"start_date": day.isoformat(), "end_date": day.isoformat()},
    )
    assert aggregation["state"] == "success", aggregation
    with admin_connect(database) as conn:
        aggregated = conn.execute("SELECT count(*) FROM daily_analytics WHERE date = %s", (day,)).fetchone()[0]
        expected = conn.execute(
            "SELECT count(DISTINCT user_id) FROM tasks WHERE NOT deleted AND created_at >= %s AND created_at < %s",
            (day, day + timedelta(days=1)),
        ).fetchone()[0]
        logged = conn.execute(
            "SELECT count(*) FROM ops.run_log WHERE dag_id = 'analytics_daily_aggregation' AND run_id = %s",
            (aggregation["run_id"],),
        ).fetchone()[0]
    # Every user who created a task that day has that day's row (and others who completed one, or had one due).
    assert aggregated >= expected > 0 and logged >= 1

    health = _dag_test(installed, "analytics_health_check", logical_date=datetime.now(UTC).isoformat())
    # An install without backups or refreshes yet is critical on those checks (their tasks fail, as
    # on a real first day); the servers themselves must be reachable and graded ok.
    assert set(health["tasks"].values()) <= {"success", "failed", "upstream_failed"}, health
    for task_id in ("check_postgres_reachable", "check_redis_reachable", "check_replica_lag", "check_daily_analytics"):
        assert health["tasks"][task_id] == "success", health
    with admin_connect(database) as conn:
        stored = dict(
            conn.execute(
                "SELECT check_name, status FROM ops.health_check_results WHERE dag_id = 'analytics_health_check' "
                "AND run_id = %s AND check_name IN ('postgres_reachable', 'redis_reachable')",
                (health["run_id"],),
            ).fetchall()
        )
    assert stored == {"postgres_reachable": "ok", "redis_reachable": "ok"}


def test_the_ops_page_is_loaded_from_the_entry_point(installed) -> None:
    assert list(installed.root.joinpath("plugins").iterdir()) == []
    done = installed.run(str(installed.venv / "bin" / "airflow"), "plugins", "--output", "json")
    plugins = {p["name"]: p for p in json.loads(done.stdout)}
    page = plugins["analytics_ops"]
    assert "analytics-ops" in str(page["source"]) and "analytics_ops.ops_page.plugin" in str(page["source"])
    assert "/analytics-ops" in json.dumps(page["fastapi_apps"])
    errors = installed.python(
        "import json; from airflow import plugins_manager as p; p.ensure_plugins_loaded(); "
        "print(json.dumps(p.get_import_errors()))"
    )
    assert errors == {}
