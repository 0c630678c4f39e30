"""docker-compose.yaml and the image, checked without Docker (its engine does not run on the
project's machines): by the Compose Specification's JSON schema, by Debian's docker-compose, and
statically.

What the file must provide is derived from the code and config wherever it can be, so a new
connection, a new environment variable the library reads, or a new folder it reads from is checked
without touching this test: the connection ids come from config/analytics_ops.yaml, the environment
variables from a scan of the library, DAGs and plugins, the folders from where the library looks.
Which container may hold which secret is the table at the top of docker-compose.yaml; the premises
of that table (which Airflow component runs which suite code) are checked against the code too.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from analytics_ops.core.config import DEFAULT_CONFIG_PATH, PROJECT_ROOT, load_config
from analytics_ops.core.db import SQL_DIR

ROOT = PROJECT_ROOT
COMPOSE = ROOT / "docker-compose.yaml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERFILE = ROOT / "Dockerfile"
REQUIREMENTS = ROOT / "requirements.txt"
REQUIREMENTS_DEV = ROOT / "requirements-dev.txt"
CONSTRAINTS = ROOT / "constraints.txt"
VENV_BIN = Path(sys.executable).parent
# The tools developers and CI need and the image must not carry (issue 12).
DEV_TOOLS = {"pytest", "sqlfluff", "ruff", "playwright", "check-jsonschema"}
# Where the postgres image runs first-start scripts, and where the analytics primary finds the
# project's shared superuser bootstrap (deploy/bootstrap.sh and sql/bootstrap/).
INITDB_DIR = PurePosixPath("/docker-entrypoint-initdb.d")
BOOTSTRAP_HOME = PurePosixPath("/opt/analytics-ops")
BOOTSTRAP_FOLDERS = ("deploy", "sql/bootstrap")
# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?message}, ${VAR?message}, $VAR; $$ is a literal $.
INTERPOLATION = re.compile(r"\$\$|\$\{(\w+)(?:(:?[-?])([^}]*))?\}|\$(\w+)")
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


def interpolate(value: Any, variables: Mapping[str, str]) -> Any:
    """What Compose makes of a value of the file, given the variables of .env (strings, recursively)."""
    if isinstance(value, dict):
        return {k: interpolate(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, variables) for v in value]
    if not isinstance(value, str):
        return value

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group(1) or match.group(4), match.group(2), match.group(3)
        if name in variables and not (op and op.startswith(":") and variables[name] == ""):
            return variables[name]
        if op and op.endswith("?"):
            raise AssertionError(f"${{{name}}} is required ({arg}) but not set")
        return arg if op else ""

    return INTERPOLATION.sub(one, value)


def container_env(service: dict[str, Any], variables: Mapping[str, str]) -> dict[str, str]:
    """What a container sees: its environment, with .env's variables substituted (no env_file)."""
    assert "env_file" not in service, "no container reads .env whole: give it the variables it needs"
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        environment = dict(item.partition("=")[::2] for item in environment)
    return {k: str(interpolate(v, variables)) for k, v in environment.items()}


def connections_of(env: Mapping[str, str]) -> set[str]:
    return {name.removeprefix("AIRFLOW_CONN_").lower() for name in env if name.startswith("AIRFLOW_CONN_")}


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


def connections_used_by(service: dict[str, Any]) -> set[str]:
    """The suite's connections the suite code running in this container uses (docker-compose.yaml's
    table; test_the_secrets_table_matches_where_airflow_runs_the_suite_code checks its premises)."""
    config = load_config()
    primary = {config.connections.primary}
    replicas = set(config.replication.replica_connections)
    alert_routes = {route.connection for route in config.alerting.routes.values()}
    command = command_of(service)
    by_component = {
        "celery worker": suite_connection_ids(),  # every task
        "triggerer": alert_routes | primary | replicas,  # deadline AsyncCallbacks; the replica-lag trigger
        "dag-processor": primary | alert_routes,  # DAG callbacks; failure callbacks of tasks that died
        "api-server": primary | replicas,  # the Analytics Ops page
        "scheduler": set(),
    }
    if command in by_component:
        return by_component[command]
    if "analytics_ops.cli" in command:  # migrations, demo data: as the suite's role on the primary
        return primary
    return set()


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


def test_the_file_parses_and_names_the_project(compose, env_example) -> None:
    # COMPOSE_PROJECT_NAME in .env rather than `name:`, which Debian's docker-compose 1.29 rejects.
    assert "name" not in compose
    assert env_example["COMPOSE_PROJECT_NAME"] == "analytics-ops"
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


def test_each_airflow_container_gets_the_connections_its_suite_code_uses_and_no_other(services, env_example) -> None:
    workers = [s for s in services.values() if command_of(s) == "celery worker"]
    assert connections_used_by(workers[0]) == suite_connection_ids()  # the worker runs every task
    for name, service in airflow_services(services).items():
        env = container_env(service, env_example)
        assert connections_of(env) == connections_used_by(service), f"{name}: connections differ from its needs"
        for conn_id in sorted(connections_of(env)):
            var = f"AIRFLOW_CONN_{conn_id.upper()}"
            assert var in env_example, f"{var} is not in .env.example"
            conn = json.loads(env[var])
            if conn["conn_type"] in ("postgres", "redis"):
                assert conn["host"] in services, f"{conn_id}: host {conn['host']} is no service of the file"
    replicas = set(load_config().replication.replica_connections)
    primary = load_config().connections.primary
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
            "import analytics_ops.core.config as c, analytics_ops.ops_page.app; print(c.PROJECT_ROOT)",
        ],
        env={"PYTHONPATH": str(ROOT / "include"), "PATH": str(Path(__import__("sys").executable).parent)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(ROOT)


def test_images_are_pinned(services, env_example) -> None:
    for name, service in services.items():
        if "build" in service:
            continue
        image = interpolate(service["image"], env_example)
        exact = EXACT_POSTGRES_TAG if image.startswith("postgres:") else EXACT_TAG
        assert exact.search(image), f"{name}: {image} is not an exact release"
    base = re.search(r"^FROM\s+(\S+)", DOCKERFILE.read_text(), re.M).group(1)
    airflow_pin = re.search(r"^apache-airflow==(\S+)", (ROOT / "requirements.txt").read_text(), re.M).group(1)
    assert base == f"apache/airflow:{airflow_pin}-python3.11"
    dockerfile = DOCKERFILE.read_text()
    assert re.search(r"pip install .*-r \S*requirements\.txt\s*\\?\s*-c \S*constraints\.txt", dockerfile, re.S)


# The analytics servers' images whose major the worker image's PostgreSQL programs must match.
ANALYTICS_DB_SERVICES = ("analytics-db", "analytics-db-replica")


@pytest.mark.parametrize("chosen", [None, "18.1"], ids=["default", "ANALYTICS_PG_VERSION=18.1"])
def test_the_worker_image_has_the_programs_of_the_analytics_servers_major(services, env_example, chosen) -> None:
    # One variable picks the release: the analytics servers' image and the Airflow image's build agree.
    variables = {**env_example, "ANALYTICS_PG_VERSION": chosen} if chosen else env_example
    version = variables["ANALYTICS_PG_VERSION"]
    for name in ANALYTICS_DB_SERVICES:
        assert interpolate(services[name]["image"], variables) == f"postgres:{version}-bookworm", name
        # From 18 the image keeps data under /var/lib/postgresql/<major>/docker unless PGDATA says otherwise.
        assert container_env(services[name], variables)["PGDATA"] in mounts(services[name]), name
    for name, service in airflow_services(services).items():
        build = interpolate(service["build"], variables)
        assert build["args"]["ANALYTICS_PG_VERSION"] == version, name
        assert version in interpolate(service["image"], variables), f"{name}: one image tag per release"
    # Without .env the defaults agree too: the file's, .env.example's and the Dockerfile's.
    defaults = set(re.findall(r"\$\{ANALYTICS_PG_VERSION:-([^}]+)\}", COMPOSE.read_text()))
    dockerfile = DOCKERFILE.read_text()
    assert defaults == {env_example["ANALYTICS_PG_VERSION"]}
    assert (
        re.search(r"^ARG ANALYTICS_PG_VERSION=(\S+)$", dockerfile, re.M).group(1) == env_example["ANALYTICS_PG_VERSION"]
    )
    # The Dockerfile installs the programs of that version's major, from PostgreSQL's repository (Debian
    # 12 packages 15 only): its own derivation of the major, run by sh as the build runs it.
    derive = re.search(r'^\s*(major="\$\{ANALYTICS_PG_VERSION[^"]*"); \\$', dockerfile, re.M).group(1)
    major = subprocess.run(
        ["sh", "-c", f'{derive}; echo "$major"'], env={"ANALYTICS_PG_VERSION": version}, capture_output=True, text=True
    ).stdout.strip()
    assert major == version.split(".")[0]
    assert re.search(r'apt-get install [^\n]*"postgresql-client-\$\{major\}"', dockerfile)
    assert re.search(r'apt-get install [^\n]*"postgresql-\$\{major\}"', dockerfile)
    assert re.search(r"apt\.postgresql\.org/pub/repos/apt \$\{codename\}-pgdg main \$\{major\}", dockerfile)


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


# --- Secrets: each container only the ones it needs -------------------------------------------------


def secret_variables(env_example: Mapping[str, str]) -> set[str]:
    return {name for name in env_example if name.startswith("AIRFLOW_CONN_") or re.search(r"PASSWORD|SECRET|KEY", name)}


def holders(services: dict[str, dict[str, Any]], env_example: Mapping[str, str]) -> dict[str, set[str]]:
    """variable -> the services whose resolved definition (environment, command, healthcheck, ...)
    carries its value: each variable stands in as a marker no other value contains."""
    markers = {name: f"<<{name}>>" for name in env_example}
    found: dict[str, set[str]] = {name: set() for name in env_example}
    for service_name, service in services.items():
        text = json.dumps(interpolate(service, markers))
        for name, marker in markers.items():
            if marker in text:
                found[name].add(service_name)
    return found


def test_no_container_reads_the_env_file_whole_or_mounts_it(services) -> None:
    for name, service in services.items():
        assert "env_file" not in service, f"{name}: env_file hands it every secret of .env"
        for source in mounts(service).values():
            if source.startswith("."):
                assert (ROOT / source).resolve() != ROOT.resolve(), f"{name} mounts the project folder (and .env)"
                assert Path(source).name != ".env", f"{name} mounts .env"


def test_each_secret_reaches_only_the_containers_that_need_it(services, env_example) -> None:
    config = load_config()
    airflow = set(airflow_services(services))

    def host(conn_id: str) -> str:
        return json.loads(env_example[f"AIRFLOW_CONN_{conn_id.upper()}"])["host"]

    primary = host(config.connections.primary)
    replicas = {host(c) for c in config.replication.replica_connections}
    metadata_db = re.search(
        r"@([\w-]+)", container_env(services["airflow-scheduler"], env_example)["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    ).group(1)
    expected = {
        # The analytics superuser's password: its own container, nowhere else (not even the replica).
        "ANALYTICS_ADMIN_PASSWORD": {primary},
        "ANALYTICS_OPS_PASSWORD": {primary},
        "ANALYTICS_REPLICATION_PASSWORD": {primary} | replicas,
    }
    for name in secret_variables(env_example):
        if name.startswith("AIRFLOW_CONN_"):
            conn_id = name.removeprefix("AIRFLOW_CONN_").lower()
            expected[name] = {s for s in airflow if conn_id in connections_used_by(services[s])}
        elif name.startswith("AIRFLOW_"):
            # Airflow's own: its components (and the metadata DB its password), never the analytics stack.
            expected[name] = airflow | ({metadata_db} if "METADATA_DB" in name else set())
    assert set(expected) == secret_variables(env_example), "a secret of .env.example with no rule here"
    found = holders(services, env_example)
    for name in sorted(expected):
        assert found[name] == expected[name], f"{name}: held by {sorted(found[name])}, not {sorted(expected[name])}"
    # The analytics primary's init (the bootstrap) sees no Airflow secret; Airflow sees none of its.
    assert not {n for n in secret_variables(env_example) if n.startswith("AIRFLOW_") and primary in found[n]}
    assert not {n for n in expected if n.startswith("ANALYTICS_") and found[n] & airflow}


def test_the_secrets_table_matches_where_airflow_runs_the_suite_code() -> None:
    """The premises of connections_used_by, read from the code and the installed Airflow."""
    import inspect

    from airflow.dag_processing import processor
    from airflow.sdk import AsyncCallback

    from analytics_ops.core.dag_defaults import deadline_alert, suite_dag_args
    from analytics_ops.replication import sensors

    dag_id = sorted(p.stem for p in (ROOT / "dags").glob("*.py") if not p.name.startswith("_"))[0]
    # Triggerer: the deadline alert's callback is an AsyncCallback (a SyncCallback would run on an
    # executor's worker instead), and the replica-lag sensor defers to a trigger that reads the primary
    # and the replicas.
    assert isinstance(deadline_alert(dag_id).callback, AsyncCallback)
    assert "self.defer(" in inspect.getsource(sensors) and "ReplicaLagTrigger" in inspect.getsource(sensors)
    # DAG processor: the suite's DAGs have DAG-level callbacks, and Airflow 3.3 executes those (and
    # the failure callbacks of tasks that died outside a worker) in the DAG processor.
    args = suite_dag_args(dag_id, doc_md="runbook")
    assert args.get("on_success_callback") or args.get("on_failure_callback")
    source = inspect.getsource(processor._execute_callbacks)
    assert "_execute_dag_callbacks" in source and "_execute_task_callbacks" in source
    # API server: the plugin serves the Ops page as a FastAPI app, and the page reads the primary and
    # measures replica lag (the replicas), nothing else of the suite's.
    # The plugin comes from the package's `airflow.plugins` entry point (the image installs the wheel).
    (entry_point,) = [e for e in metadata.entry_points(group="airflow.plugins") if e.name == "analytics_ops"]
    assert entry_point.load().fastapi_apps
    assert re.search(r"^RUN pip install [^\n]*analytics_ops-\S*\.whl", DOCKERFILE.read_text(), re.M)
    from analytics_ops.ops_page import overview as ops_overview

    page = inspect.getsource(ops_overview)
    assert "config.connections.primary" in page and "measure(config.replication)" in page
    assert "redis" not in page.lower() and "slack" not in page.lower()


# --- Volumes and the shared bootstrap ----------------------------------------------------------------


def test_airflow_init_hands_the_named_volumes_to_the_airflow_user(compose, services) -> None:
    declared = set(compose["volumes"])
    airflow_user = compose["x-airflow-common"]["user"]
    assert re.fullmatch(r"\$\{AIRFLOW_UID(:-\d+)?\}:0", airflow_user)
    init = services["airflow-init"]
    assert init["user"] == "0:0", "airflow-init runs as root once, to chown"
    chowned = set()
    for match in re.finditer(r'chown -R "([^"]+)" ([^\n;&|]+)', command_of(init)):
        assert match.group(1) == airflow_user, "chown to the user the other containers run as"
        chowned |= set(match.group(2).split())
    needed = set()
    for name, service in airflow_services(services).items():
        if name == "airflow-init":
            continue
        assert service["user"] == airflow_user, name
        needed |= {target for target, source in mounts(service).items() if source in declared}
        if "debug" not in service.get("profiles", []):
            assert service["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully", name
    assert str(CONTAINER_HOME / "backups") in needed, "the backups volume is mounted"
    assert needed <= chowned, f"named volumes left root-owned: {needed - chowned}"


def analytics_primary(services, env_example) -> str:
    return json.loads(env_example[f"AIRFLOW_CONN_{load_config().connections.primary.upper()}"])["host"]


def test_the_primary_runs_the_shared_bootstrap_on_first_start(services, env_example) -> None:
    service = services[analytics_primary(services, env_example)]
    volumes = {v.split(":")[1]: v for v in service["volumes"]}
    got = mounts(service)
    init_scripts = [t for t in got if PurePosixPath(t).parent == INITDB_DIR]
    assert len(init_scripts) == 1 and init_scripts[0].endswith(".sh")
    source = ROOT / got[init_scripts[0]]
    # The image sources an init .sh that is not executable: an `exec` in it would replace the
    # image's entrypoint, and the server would never start for real.
    assert os.access(source, os.X_OK), f"{source} must be executable"
    # The bootstrap's files, laid out as in the checkout (its default SQL folder, ../sql/bootstrap
    # beside deploy/, works as well as the one the init script names), read-only.
    for folder in BOOTSTRAP_FOLDERS:
        target = str(BOOTSTRAP_HOME / folder)
        assert got.get(target) == f"./{folder}", f"{folder}/ is not mounted at {target}"
        assert volumes[target].endswith(":ro"), f"{target} must be read-only"


def required_variables(script: Path) -> set[str]:
    """${NAME:?...} / ${NAME?...} in a script: what it refuses to run without."""
    return set(re.findall(r"\$\{(\w+):?\?", script.read_text()))


def test_each_deploy_script_gets_the_variables_it_requires(services, env_example) -> None:
    checked = 0
    for name, service in services.items():
        env = container_env(service, env_example)
        for source in mounts(service).values():
            if not (source.startswith("./deploy/") and source.endswith(".sh")):
                continue
            scripts = [ROOT / source]
            # Scripts it runs from the mounted deploy folder (the init script exec's the bootstrap).
            for run in re.findall(rf"{BOOTSTRAP_HOME}/deploy/([\w.-]+\.sh)", scripts[0].read_text()):
                scripts.append(ROOT / "deploy" / run)
            for script in scripts:
                assert script.is_file(), f"{name}: {script} is run but not in deploy/"
                missing = required_variables(script) - set(env) - {"PGDATA"}  # the image sets PGDATA
                assert not missing, f"{name}: {script.name} needs {sorted(missing)}"
                checked += 1
    assert checked >= 2  # the primary's init script and the replica's entrypoint


def test_the_bootstrap_creates_the_roles_the_connections_and_the_replica_use(services, env_example) -> None:
    primary = analytics_primary(services, env_example)
    env = container_env(services[primary], env_example)
    for conn_id in {load_config().connections.primary, *load_config().replication.replica_connections}:
        conn = json.loads(env_example[f"AIRFLOW_CONN_{conn_id.upper()}"])
        assert conn["login"] == env["ANALYTICS_OPS_ROLE"], f"{conn_id} logs in as another role"
        assert conn["schema"] == env["ANALYTICS_DB"] == env["POSTGRES_DB"], f"{conn_id}: another database"
    config = load_config()
    for conn_id in config.replication.replica_connections:
        replica = services[json.loads(env_example[f"AIRFLOW_CONN_{conn_id.upper()}"])["host"]]
        script = ROOT / mounts(replica)[" ".join(replica["entrypoint"])]
        # The pg_basebackup command (continued lines joined; comments are not commands).
        commands = re.sub(r"\\\n", " ", script.read_text())
        line = next(ln for ln in commands.splitlines() if re.search(r"^[^#]*\bpg_basebackup\s", ln))
        user = re.search(r"\s-U\s+(\S+)", line).group(1)
        assert user == env["ANALYTICS_REPLICATION_ROLE"], f"{script.name} replicates as {user}"


# --- The image's packages ----------------------------------------------------------------------------


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path: Path, *, follow_includes: bool = True) -> dict[str, str]:
    """name -> version of a requirements or constraints file (`-r` includes followed)."""
    found = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("-r"):
            if follow_includes:
                found.update(pins(path.parent / line.removeprefix("-r").strip()))
            continue
        name, _, version = line.partition("==")
        found[canonical(name.split("[")[0])] = version.strip()
    return found


def test_the_image_installs_the_runtime_pins_with_its_executors_provider_and_no_dev_tool(services, env_example) -> None:
    dockerfile = DOCKERFILE.read_text()
    installs = re.findall(r"pip install[^\n]*(?:\\\n[^\n]*)*", dockerfile)
    requirement_files = {PurePosixPath(f).name for line in installs for f in re.findall(r"-r\s+(\S+)", line)}
    assert requirement_files == {REQUIREMENTS.name}
    copied = {PurePosixPath(f).name for line in re.findall(r"^COPY\s+(.*)$", dockerfile, re.M) for f in line.split()}
    assert REQUIREMENTS_DEV.name not in copied
    image = pins(REQUIREMENTS)
    # The executor the containers run, resolved as Airflow does, comes from a provider: it is in the image.
    from airflow.executors.executor_loader import ExecutorLoader

    executor = container_env(services["airflow-scheduler"], env_example)["AIRFLOW__CORE__EXECUTOR"]
    module = ExecutorLoader.executors.get(executor, executor)
    provider = re.match(r"airflow\.providers\.(\w+)\.", module)
    assert provider, f"{executor} is no provider's executor: {module}"
    assert f"apache-airflow-providers-{provider.group(1)}" in image
    # Development tools stay out, and requirements-dev.txt is the runtime set plus them.
    first = next(ln for ln in REQUIREMENTS_DEV.read_text().splitlines() if ln.strip() and not ln.startswith("#"))
    assert first.split() == ["-r", REQUIREMENTS.name]
    dev_only = pins(REQUIREMENTS_DEV, follow_includes=False)
    assert DEV_TOOLS <= set(dev_only), f"missing from {REQUIREMENTS_DEV.name}: {DEV_TOOLS - set(dev_only)}"
    assert not (set(dev_only) & set(image)), "a package pinned in both files"
    assert not (DEV_TOOLS & set(image))
    # The venv installs the development file (it carries the runtime pins too).
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(rf"pip install .*-r {re.escape(REQUIREMENTS_DEV.name)} -c {CONSTRAINTS.name}", makefile)
    stamp_rule = re.search(r"^\$\(STAMP\):(.*)$", makefile, re.M).group(1).split()
    assert {REQUIREMENTS.name, REQUIREMENTS_DEV.name, CONSTRAINTS.name} <= set(stamp_rule)


def test_constraints_lock_every_pin_and_everything_the_venv_holds() -> None:
    locked = pins(CONSTRAINTS)
    for name, version in pins(REQUIREMENTS_DEV).items():
        assert locked.get(name) == version, f"{name}=={version} is pinned but constraints.txt has {locked.get(name)}"
    project = canonical(re.search(r'^name\s*=\s*"([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M).group(1))
    # What `pip freeze --exclude-editable` leaves out: pip's own tooling and the project itself.
    unlisted = {"pip", "setuptools", "wheel", "distribute", project}
    installed = {canonical(d.metadata["Name"]): d.version for d in metadata.distributions()}
    missing = {n: v for n, v in installed.items() if n not in unlisted and locked.get(n) != v}
    assert not missing, f"installed but not locked (re-freeze constraints.txt): {missing}"


# --- Real validators ---------------------------------------------------------------------------------


def test_the_compose_specification_schema_accepts_the_file() -> None:
    tool = VENV_BIN / "check-jsonschema"
    assert tool.exists(), f"{tool} is missing: make venv installs it from {REQUIREMENTS_DEV.name}"
    done = subprocess.run(
        [str(tool), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def docker_compose() -> str:
    """Debian's docker-compose (1.29); scripts/stack.sh install puts it there. Missing in CI fails."""
    found = shutil.which("docker-compose")
    if found:
        return found
    message = "docker-compose is missing: scripts/stack.sh install (as root), or apt-get install docker-compose"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def test_debian_docker_compose_accepts_the_file_and_resolves_it_as_these_tests_do(
    services, env_example, tmp_path
) -> None:
    # Only .env.example's values: nothing of the caller's environment (scripts/with-env exports
    # AIRFLOW_CONN_* for the local stack) may be substituted instead.
    clean = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}
    command = [docker_compose(), "--env-file", str(ENV_EXAMPLE), "-f", str(COMPOSE), "config"]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=clean)
    assert done.returncode == 0, done.stderr
    resolved = yaml.safe_load(done.stdout)["services"]
    # Profiled services (debug, demo) included: docker-compose config shows every service.
    assert set(resolved) == set(services)
    for name, service in services.items():
        theirs = {k: str(v) for k, v in (resolved[name].get("environment") or {}).items()}
        assert theirs == container_env(service, env_example), f"{name}: the tests' reading differs from Compose's"
