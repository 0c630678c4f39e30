"""A real Airflow (scheduler, DAG processor, triggerer, API server: `airflow standalone`) for the
end-to-end tests, started once per session on a throwaway SQLite metadata DB, with the suite's DAGs
and tests/dags as its DAG bundles. Start-up is bounded: it must have parsed the probe DAGs within
STARTUP_TIMEOUT seconds, or the tests fail with the tail of its log."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from analytics_ops.core.config import DEFAULT_CONFIG_PATH

ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 150
PROBES = ("deadline_probe", "alert_probe", "analytics_daily_aggregation")


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


class AirflowStandalone:
    def __init__(self, home: Path, env: dict[str, str]) -> None:
        self.home = home
        self.env = env
        self.log_path = home / "standalone.log"
        self.proc: subprocess.Popen | None = None

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["airflow", *args], env=self.env, capture_output=True, text=True, check=check, timeout=120
        )

    def start(self) -> None:
        self.cli("db", "migrate")
        with self.log_path.open("w") as log:
            self.proc = subprocess.Popen(
                ["airflow", "standalone"], env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"airflow standalone exited: {self.log_tail()}")
            listed = self.cli("dags", "list", "--output", "json", check=False)
            if listed.returncode == 0:
                found = {d["dag_id"] for d in _json_output(listed.stdout)}
                if set(PROBES) <= found:
                    # Every other suite DAG stays paused: its scheduled runs are not these tests'.
                    for dag_id in PROBES:
                        self.cli("dags", "unpause", dag_id)
                    return
            time.sleep(3)
        raise RuntimeError(f"airflow standalone not ready in {STARTUP_TIMEOUT}s: {self.log_tail()}")

    def run_states(self, dag_id: str) -> dict[str, str]:
        listed = self.cli("dags", "list-runs", dag_id, "--output", "json", check=False)
        if listed.returncode != 0:
            return {}
        return {r["run_id"]: r["state"] for r in _json_output(listed.stdout)}

    def trigger(self, dag_id: str, conf: dict | None = None) -> str:
        args = ["dags", "trigger", dag_id, "--output", "json"]
        if conf is not None:
            args += ["--conf", json.dumps(conf)]
        out = self.cli(*args)
        return _json_output(out.stdout)[0]["dag_run_id"]

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


@pytest.fixture(scope="session")
def airflow_stack(tmp_path_factory) -> Iterator[AirflowStandalone]:
    home = tmp_path_factory.mktemp("airflow-e2e")
    config = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    config["dag_defaults"].update({"retries": 1, "retry_delay": "1s", "max_retry_delay": "1s"})
    config["dags"]["deadline_probe"] = {"severity": "P1", "deadline": "5s"}
    config["dags"]["alert_probe"] = {"severity": "P2"}
    config_path = home / "analytics_ops.yaml"
    config_path.write_text(yaml.safe_dump(config))
    port = _free_port()
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "ANALYTICS_OPS_CONFIG": str(config_path),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
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
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "PYTHONWARNINGS": "ignore",
    }
    env.pop("AIRFLOW__CORE__UNIT_TEST_MODE", None)
    stack = AirflowStandalone(home, env)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()
