"""A real Airflow on the CeleryExecutor for the end-to-end tests, laid out as docker-compose.yaml and
started once per session by the same script as `make up EXECUTOR=celery` (scripts/celery.sh):
api-server, scheduler, dag-processor, triggerer and two Celery workers, each worker with its own
AIRFLOW_HOME, working folder, HOME and TMPDIR; metadata in a database of this session on the local
stack's Airflow PostgreSQL, the broker a database of the stack's broker Redis. Its DAG bundles are
the suite's DAGs and tests/dags; its connections are the tests' (the `aops_test` database, the
tests' Slack receiver). Cron schedules are off (`use_job_schedule`): only what a test triggers runs.

Start-up is bounded: the deployment must answer and have parsed every DAG within STARTUP_TIMEOUT
seconds, or the tests fail with the tail of its logs.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from analytics_ops.core.config import DEFAULT_CONFIG_PATH
from tests.conftest import TEST_WAL_SLOT

ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 300
PROBES = ("deadline_probe", "alert_probe")
SUITE_DAGS = tuple(sorted(p.stem for p in (ROOT / "dags").glob("analytics_*.py")))
WORKERS = ("worker1", "worker2")
# The stack's broker Redis: database 0 is `make up EXECUTOR=celery`'s; the tests use their own.
BROKER_DB = 1


def _json_output(stdout: str):
    """The JSON document a CLI command printed, after any warnings it printed first."""
    for line in reversed(stdout.strip().splitlines()):
        if line.startswith(("[", "{")):
            return json.loads(line)
    raise ValueError(f"no JSON in output: {stdout[-500:]}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _read_env_file(path: Path) -> dict[str, str]:
    """`export KEY='value'` lines, as scripts/stack.sh and scripts/celery.sh write them."""
    env = {}
    for line in path.read_text().splitlines():
        if line.startswith("export "):
            key, _, value = shlex.split(line)[1].partition("=")
            env[key] = value
    return env


class CeleryDeployment:
    def __init__(self, home: Path, env: dict[str, str]) -> None:
        self.home = home
        self.env = env  # what the test sets; celery.env (written by `start`) is added to it
        self.run_dir = home / "celery"
        self.port = int(env["AOPS_AIRFLOW_PORT"])
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._token: str | None = None

    def _script(self, *args: str, timeout: float) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(ROOT / "scripts" / "celery.sh"), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def start(self) -> None:
        started = self._script("start", timeout=STARTUP_TIMEOUT + 60)
        if started.returncode != 0:
            raise RuntimeError(f"scripts/celery.sh start failed:\n{started.stderr[-4000:]}\n{self.log_tail()}")
        self.env = {**self.env, **_read_env_file(self.run_dir / "celery.env")}
        deadline = time.monotonic() + STARTUP_TIMEOUT
        wanted = set(PROBES) | set(SUITE_DAGS) | {"analytics_daily_aggregation"}
        found: set[str] = set()
        while time.monotonic() < deadline:
            try:
                found = {d["dag_id"] for d in self.api("GET", "/api/v2/dags", params={"limit": 100})["dags"]}
            except requests.RequestException:
                found = set()
            if wanted <= found:
                # Cron schedules are off (use_job_schedule): unpausing starts nothing by itself.
                for dag_id in sorted(wanted):
                    self.api("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": False})
                return
            time.sleep(3)
        raise RuntimeError(f"DAGs not parsed in {STARTUP_TIMEOUT}s: missing {wanted - found}\n{self.log_tail()}")

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(ROOT / "scripts" / "with-env"), "airflow", *args],
            env=self.env,
            capture_output=True,
            text=True,
            check=check,
            timeout=120,
        )

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        """The REST API v2, as the deployment's generated admin user."""
        if self._token is None:
            passwords = json.loads((self.home / "simple_auth_manager_passwords.json.generated").read_text())
            response = requests.post(
                f"{self.base_url}/auth/token",
                json={"username": "admin", "password": passwords["admin"]},
                timeout=30,
            )
            response.raise_for_status()
            self._token = response.json()["access_token"]
        response = requests.request(
            method, self.base_url + path, headers={"Authorization": f"Bearer {self._token}"}, timeout=30, **kwargs
        )
        if response.status_code >= 400:
            raise requests.HTTPError(f"{method} {path}: {response.status_code} {response.text[:500]}")
        return response.json()

    def run_states(self, dag_id: str) -> dict[str, str]:
        listed = self.cli("dags", "list-runs", dag_id, "--output", "json", check=False)
        if listed.returncode != 0:
            return {}
        return {r["run_id"]: r["state"] for r in _json_output(listed.stdout)}

    def trigger(self, dag_id: str, conf: dict | None = None) -> str:
        body: dict[str, Any] = {"logical_date": None}
        if conf is not None:
            body["conf"] = conf
        return self.api("POST", f"/api/v2/dags/{dag_id}/dagRuns", json=body)["dag_run_id"]

    def log_tail(self, lines: int = 25, components: tuple[str, ...] = ()) -> str:
        """The end of each component's log (scheduler, workers, ...), or of the ones named."""
        logs = sorted((self.run_dir / "log").glob("*.log")) if (self.run_dir / "log").is_dir() else []
        parts = []
        for log in logs:
            if components and log.stem not in components:
                continue
            tail = log.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- {log.name}\n" + "\n".join(tail))
        return "\n".join(parts)

    def stop(self) -> None:
        stopped = self._script("stop", timeout=90)
        if stopped.returncode != 0:
            raise RuntimeError(f"scripts/celery.sh stop failed: {stopped.stderr[-2000:]}")


def _stack_sh(*args: str) -> None:
    done = subprocess.run(
        [str(ROOT / "scripts" / "stack.sh"), *args], capture_output=True, text=True, timeout=120, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"scripts/stack.sh {' '.join(args)} failed:\n{done.stderr[-2000:]}")


@pytest.fixture(scope="session")
def airflow_stack(test_database: str) -> Iterator[CeleryDeployment]:
    stack_dir = Path(os.environ["AOPS_STACK_DIR"])
    # Airflow's metadata PostgreSQL and the broker Redis of the local stack (idempotent).
    _stack_sh("up", "celery")
    servers = _read_env_file(stack_dir / "celery-servers.env")
    token = secrets.token_hex(4)
    database = f"airflow_e2e_{token}"
    _stack_sh("airflow-db", "create", database)
    import redis

    redis.Redis(host="127.0.0.1", port=int(servers["AOPS_LOCAL_BROKER_PORT"]), db=BROKER_DB).flushdb()

    # Under the stack folder, not pytest's private tmp: a worker's TMPDIR must be reachable by
    # backups.os_user, who runs the recovery drill's temporary cluster (as on a real host's /tmp).
    home = stack_dir / "e2e" / token
    home.mkdir(parents=True)
    config = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    config["dag_defaults"].update({"retries": 1, "retry_delay": "1s", "max_retry_delay": "1s"})
    config["dags"]["deadline_probe"] = {"severity": "P1", "deadline": "5s"}
    config["dags"]["alert_probe"] = {"severity": "P2"}
    config["backups"].update({"wal_slot": TEST_WAL_SLOT, "dump_jobs": 2, "recovery_root": str(home / "recovery")})
    config_path = home / "analytics_ops.yaml"
    config_path.write_text(yaml.safe_dump(config))
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AOPS_AIRFLOW_PORT": str(_free_port()),
        "AOPS_AIRFLOW_DB_NAME": database,
        "AOPS_BROKER_DB": str(BROKER_DB),
        "AOPS_CELERY_WORKERS": str(len(WORKERS)),
        "AOPS_WORKER_CONCURRENCY": "2",
        "AOPS_AIRFLOW_START_TIMEOUT": str(STARTUP_TIMEOUT),
        "ANALYTICS_OPS_CONFIG": str(config_path),
        # The two workers are processes of this one host: the backup folder is one they both see (a
        # folder local to each worker of a multi-host deployment is refused: tests/test_backups.py).
        "ANALYTICS_OPS_BACKUP_DESTINATION_SHARED": "true",
        "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": json.dumps(
            [
                {
                    "name": "dags-folder",
                    "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
                    "kwargs": {"path": str(ROOT / "dags")},
                },
                {
                    "name": "test-dags",
                    "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
                    "kwargs": {"path": str(ROOT / "tests" / "dags")},
                },
            ]
        ),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "PYTHONWARNINGS": "ignore",
    }
    env.pop("AIRFLOW__CORE__UNIT_TEST_MODE", None)
    deployment = CeleryDeployment(home, env)
    try:
        deployment.start()
        yield deployment
    finally:
        try:
            deployment.stop()
        finally:
            _stack_sh("airflow-db", "drop", database)
            if not os.environ.get("AOPS_E2E_KEEP"):
                shutil.rmtree(home, ignore_errors=True)
