"""Policy over every DAG in the bag: what each must declare, and that parsing touches nothing."""

from __future__ import annotations

import ast
import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from analytics_ops.core.config import load_config

DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"
DAG_FILES = sorted(p for p in DAGS_DIR.glob("*.py") if not p.name.startswith("_"))


@pytest.fixture(scope="module")
def dag_bag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_DIR))


def test_no_import_errors_and_one_dag_per_file(dag_bag):
    assert dag_bag.import_errors == {}
    assert len(DAG_FILES) >= 1
    assert sorted(Path(d.fileloc).name for d in dag_bag.dags.values()) == [p.name for p in DAG_FILES]


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.stem)
def test_dag_declares_what_the_suite_requires(dag_bag, path):
    dag = dag_bag.get_dag(path.stem)
    assert dag is not None, f"{path.name} must define a DAG whose dag_id is {path.stem!r}"
    config = load_config()

    docstring = ast.get_docstring(ast.parse(path.read_text()), clean=False)
    assert docstring and len(docstring.strip()) > 200, "the module docstring is the runbook: write it"
    assert dag.doc_md == docstring
    assert "## When it fails" in docstring, "doc_md must tell the on-call what to do"

    assert dag.owner == config.airflow.owner
    assert "analytics-ops" in dag.tags
    assert any(t.startswith("severity:P") for t in dag.tags)

    # Alerting and SLA come from the one helper: a failure notifier on every task, a deadline alert.
    from analytics_ops.alerting.callbacks import on_dag_success, on_task_failure, on_task_retry

    deadlines = dag.deadline if isinstance(dag.deadline, list) else [dag.deadline]
    assert deadlines and all(d is not None for d in deadlines), "every DAG needs a deadline alert"
    assert [d.callback.path for d in deadlines] == ["analytics_ops.alerting.callbacks.on_deadline_missed"]
    assert deadlines[0].callback.kwargs == {"dag_id": dag.dag_id, "severity": config.severity(dag.dag_id)}
    assert dag.on_success_callback == on_dag_success or on_dag_success in (dag.on_success_callback or [])

    for task in dag.tasks:
        assert on_task_failure in (task.on_failure_callback or []), f"{task.task_id} has no failure notifier"
        assert on_task_retry in (task.on_retry_callback or []), f"{task.task_id} has no retry notifier"
        assert task.owner == config.airflow.owner, task.task_id
        assert task.retries >= 1, f"{task.task_id} has no retries"
        assert task.retry_exponential_backoff >= 2, f"{task.task_id} retries without backoff"
        assert task.max_retry_delay is not None, task.task_id


class _ConnectionCounter:
    """A TCP listener that counts who connects: stands in for every server during a parse."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


# Leaves that do nothing themselves: they are only ever upstream-failed (to mark the run failed),
# which sends no alert of their own, so they need no entry.
NEVER_FAIL_THEMSELVES = {"all_checks_passed", "all_reviews_done"}


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.stem)
def test_every_task_that_can_fail_has_its_when_it_fails_entry(dag_bag, path):
    # A failure alert quotes the DAG doc's entry for the failed task as "What to do"; a task
    # without one sends a bare link.
    from analytics_ops.alerting.messages import runbook_hint

    dag = dag_bag.get_dag(path.stem)
    missing = [
        t.task_id
        for t in dag.tasks
        if t.task_id not in NEVER_FAIL_THEMSELVES and runbook_hint(dag.doc_md, t.task_id) is None
    ]
    assert not missing, f"{path.name}: no '- **`<task_id>` ...**' entry under '## When it fails' for {missing}"


def test_parsing_opens_no_connection(tmp_path):
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
        script = (
            "import sys\n"
            "from airflow.dag_processing.dagbag import DagBag\n"
            f"bag = DagBag(dag_folder={str(DAGS_DIR)!r})\n"
            "assert not bag.import_errors, bag.import_errors\n"
            "heavy = sorted(m for m in ('psycopg', 'redis', 'slack_sdk', 'pandas') if m in sys.modules)\n"
            "import json; print(json.dumps({'dags': len(bag.dags), 'heavy': heavy}))\n"
        )
        out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr[-2000:]
        report = json.loads(out.stdout.strip().splitlines()[-1])
        assert report["dags"] == len(DAG_FILES)
        assert counter.accepted == 0, "parsing the DAGs opened a network connection"
        assert report["heavy"] == [], f"database/network clients imported at parse time: {report['heavy']}"
    finally:
        counter.close()
