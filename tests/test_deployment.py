"""docker-compose.yaml, checked statically (Docker does not run on the project's machines).

What the file must provide is derived from the code and config wherever it can be, so a new
connection, a new environment variable the library reads, or a new folder it reads from is checked
without touching this test: the connection ids come from config/analytics_ops.yaml, the environment
variables from a scan of the library, DAGs and plugins, the folders from where the library looks.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from analytics_ops.config import DEFAULT_CONFIG_PATH, PROJECT_ROOT, load_config
from analytics_ops.db import SQL_DIR

ROOT = PROJECT_ROOT
COMPOSE = ROOT / "docker-compose.yaml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERFILE = ROOT / "Dockerfile"
CONTAINER_HOME = PurePosixPath("/opt/airflow")
# Airflow's components with the CeleryExecutor (the official compose file's architecture).
AIRFLOW_COMMANDS = {"api-server", "scheduler", "dag-processor", "celery worker", "triggerer"}
# A release, not a moving line: redis:7.2.7-bookworm, not redis:7.2 or redis:latest. PostgreSQL
# numbers its releases major.minor since version 10 (16.6 is a release; 16 is a line).
EXACT_TAG = re.compile(r"^[\w./-]+:\d+\.\d+\.\d+(-[\w.]+)?$|@sha256:[0-9a-f]{64}$")
EXACT_POSTGRES_TAG = re.compile(r"^postgres:\d{2,}\.\d+(-[\w.]+)?$")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict[str, dict[str, Any]]:
    return compose["services"]


@pytest.fixture(scope="module")
def env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[name.strip()] = value
    return values


def airflow_services(services) -> dict[str, dict[str, Any]]:
    """The services that run Airflow (the suite's image)."""
    return {name: s for name, s in services.items() if "build" in s}


def command_of(service: dict[str, Any]) -> str:
    command = service.get("command", "")
    return " ".join(command) if isinstance(command, list) else str(command)


def container_env(service: dict[str, Any], env_example: dict[str, str]) -> dict[str, str]:
    """What a container sees: its env_file (.env, as copied from .env.example) under its environment."""
    env = {}
    for entry in service.get("env_file", []):
        path = entry["path"] if isinstance(entry, dict) else entry
        assert path == ".env", f"unexpected env_file {path}"
        env.update(env_example)
    env.update({k: str(v) for k, v in (service.get("environment") or {}).items()})
    return env


def mounts(service: dict[str, Any]) -> dict[str, str]:
    """container path -> source, for the service's volumes."""
    found = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        found[target] = source
    return found


def suite_connection_ids() -> set[str]:
    config = load_config()
    ids = set(config.connections.model_dump().values())
    ids |= {route.connection for route in config.alerting.routes.values()}
    ids |= set(config.replication.replica_connections)
    return ids


def environment_variables_read_by_the_suite() -> set[str]:
    """Names in os.environ.get("X"), os.environ["X"], os.getenv("X") anywhere in include/, dags/, plugins/."""
    names = set()
    for folder in ("include", "dags", "plugins"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                target = None
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                    owner = ast.unparse(node.func.value)
                    if (owner, node.func.attr) in {("os.environ", "get"), ("os", "getenv"), ("environ", "get")}:
                        target = node.args[0] if node.args else None
                elif isinstance(node, ast.Subscript) and ast.unparse(node.value) in {"os.environ", "environ"}:
                    target = node.slice
                if isinstance(target, ast.Constant) and isinstance(target.value, str):
                    names.add(target.value)
    return names


def test_the_file_parses_and_names_the_project(compose) -> None:
    assert compose["name"] == "analytics-ops"
    assert isinstance(compose["services"], dict) and compose["services"]


def test_every_airflow_component_of_the_celery_executor_is_there(services, env_example) -> None:
    commands = {command_of(s) for s in airflow_services(services).values()}
    assert AIRFLOW_COMMANDS <= commands, f"missing: {AIRFLOW_COMMANDS - commands}"
    inits = [n for n, s in airflow_services(services).items() if s.get("environment", {}).get("_AIRFLOW_DB_MIGRATE")]
    assert inits == ["airflow-init"]
    common = container_env(services["airflow-scheduler"], env_example)
    assert common["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    # The metadata DB and the broker the components use are services of the file.
    for url in (common["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"], common["AIRFLOW__CELERY__BROKER_URL"]):
        host = re.search(r"@([\w-]+)", url).group(1)
        assert host in services, f"{url}: no service {host}"


def test_every_connection_of_the_suite_comes_from_the_env_file_and_reaches_a_service(services, env_example) -> None:
    replicas = set(load_config().replication.replica_connections)
    primary = load_config().connections.primary
    for name, service in airflow_services(services).items():
        env = container_env(service, env_example)
        for conn_id in sorted(suite_connection_ids()):
            var = f"AIRFLOW_CONN_{conn_id.upper()}"
            assert var in env, f"{name}: {conn_id} is not provided ({var} in .env.example)"
            conn = json.loads(env[var])
            if conn["conn_type"] in ("postgres", "redis"):
                assert conn["host"] in services, f"{conn_id}: host {conn['host']} is no service of the file"
    hosts = {c: json.loads(env_example[f"AIRFLOW_CONN_{c.upper()}"])["host"] for c in replicas | {primary}}
    for replica in replicas:
        assert hosts[replica] != hosts[primary], f"{replica} points at the primary"
        # The replica service is built from the primary by pg_basebackup: a real streaming replica.
        entry = " ".join(services[hosts[replica]].get("entrypoint", []))
        script = ROOT / mounts(services[hosts[replica]])[entry].lstrip("./")
        assert "pg_basebackup" in script.read_text() and "-R" in script.read_text()


def test_every_variable_the_suite_reads_is_provided(services, env_example) -> None:
    read = environment_variables_read_by_the_suite()
    assert "ANALYTICS_OPS_CONFIG" in read  # the scan finds what it must
    for name, service in airflow_services(services).items():
        env = container_env(service, env_example)
        assert read <= set(env), f"{name}: not provided: {read - set(env)}"
        assert env["ANALYTICS_OPS_CONFIG"] == str(CONTAINER_HOME / DEFAULT_CONFIG_PATH.relative_to(ROOT))


def test_every_variable_the_file_needs_is_in_the_env_example(env_example) -> None:
    text = COMPOSE.read_text()
    # ${VAR}, ${VAR:-default}, ${VAR:?message}; $${VAR} is the container's own variable, not Compose's.
    needed = {m.group(1) for m in re.finditer(r"(?<!\$)\$\{(\w+)", text)}
    assert needed, "the file takes its secrets from .env"
    assert needed <= set(env_example), f"not in .env.example: {needed - set(env_example)}"


def test_the_env_example_holds_no_secret(env_example) -> None:
    for name, value in env_example.items():
        if name.startswith("AIRFLOW_CONN_"):
            password = json.loads(value).get("password")
            assert password is None or "change-me" in password, name
        elif re.search(r"PASSWORD|SECRET|KEY", name):
            assert value == "change-me", name


def test_the_suite_folders_are_mounted_where_the_library_looks(services, env_example) -> None:
    # The library finds sql/ and config/ beside include/ (PROJECT_ROOT): so must the containers.
    folders = {
        "dags",
        "plugins",
        "include",
        str(SQL_DIR.relative_to(ROOT)),
        str(DEFAULT_CONFIG_PATH.parent.relative_to(ROOT)),
    }
    for name, service in airflow_services(services).items():
        got = mounts(service)
        for folder in folders:
            target = str(CONTAINER_HOME / folder)
            assert target in got, f"{name}: {folder}/ is not mounted at {target}"
            assert got[target].endswith(f"/{folder}") and (ROOT / folder).is_dir()
        env = container_env(service, env_example)
        assert str(CONTAINER_HOME / "include") in env["PYTHONPATH"].split(":")
        assert env["AIRFLOW__CORE__PLUGINS_FOLDER"] == str(CONTAINER_HOME / "plugins")
    for service in services.values():
        for source in mounts(service).values():
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"mounted {source} does not exist"


def test_analytics_ops_imports_from_the_mounted_include_folder(tmp_path) -> None:
    # As in the container: nothing installed, only PYTHONPATH=<include>; the plugin imports too.
    done = subprocess.run(
        [
            "python",
            "-c",
            "import analytics_ops.config as c, analytics_ops.ops_page; print(c.PROJECT_ROOT)",
        ],
        env={"PYTHONPATH": str(ROOT / "include"), "PATH": str(Path(__import__("sys").executable).parent)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(ROOT)


def test_images_are_pinned(services) -> None:
    for name, service in services.items():
        if "build" in service:
            continue
        image = service["image"]
        exact = EXACT_POSTGRES_TAG if image.startswith("postgres:") else EXACT_TAG
        assert exact.search(image), f"{name}: {image} is not an exact release"
    base = re.search(r"^FROM\s+(\S+)", DOCKERFILE.read_text(), re.M).group(1)
    airflow_pin = re.search(r"^apache-airflow==(\S+)", (ROOT / "requirements.txt").read_text(), re.M).group(1)
    assert base == f"apache/airflow:{airflow_pin}-python3.11"
    dockerfile = DOCKERFILE.read_text()
    assert re.search(r"pip install .*-r \S*requirements\.txt\s*\\?\s*-c \S*constraints\.txt", dockerfile, re.S)


def test_every_long_running_service_has_a_healthcheck(services) -> None:
    for name, service in services.items():
        assert "restart" in service, f"{name}: say whether it is long-running (restart: always) or a job (no)"
        if service["restart"] != "no":
            test = service.get("healthcheck", {}).get("test")
            assert test, f"{name} runs for good but has no healthcheck"


def test_state_lives_in_named_volumes(compose, services) -> None:
    declared = set(compose.get("volumes") or {})
    for name, service in services.items():
        for source in mounts(service).values():
            if not source.startswith((".", "/", "$")):
                assert source in declared, f"{name}: volume {source} is not declared"
        image = service.get("image", "")
        if image.startswith(("postgres:", "redis:")):
            data = "/var/lib/postgresql/data" if image.startswith("postgres:") else "/data"
            assert mounts(service).get(data) in declared, f"{name}: {data} is not a named volume"


def test_scaling_out_is_adding_workers(services) -> None:
    workers = [s for s in services.values() if command_of(s) == "celery worker"]
    assert len(workers) == 1
    assert "container_name" not in workers[0] and "ports" not in workers[0]


def test_depends_on_names_services_of_the_file(services) -> None:
    for name, service in services.items():
        for needed in service.get("depends_on", {}):
            assert needed in services, f"{name} depends on unknown {needed}"


def test_deploy_scripts_are_valid_bash() -> None:
    for script in (ROOT / "deploy").glob("*.sh"):
        subprocess.run(["bash", "-n", str(script)], check=True)
