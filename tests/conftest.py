"""Shared fixtures: a fresh test database on the local stack's real primary (and its replica).

Tests run through `scripts/with-env` (see `make test`), which exports the local stack's ports and
the suite's limited role. Whatever connections the user exported for real servers, tests only ever
talk to a database called `aops_test` on the local stack, created anew for each session by the same
superuser bootstrap as the deployment's (`scripts/stack.sh bootstrap-db`, deploy/bootstrap.sh).

Everything the code under test does, and what tests arrange through `db`, connects as the limited
role (`analytics_ops`). Only `superuser_connect` is the stack's superuser, for what a limited role
may not do to arrange a test (pause a replica's replay, change a server setting, drop a slot of
another role's); its sessions carry SUPERUSER_APP so the connection audit
(tests/test_least_privilege.py) can tell them from the suite's.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scripts.slack_receiver import Receiver

TEST_DB = "aops_test"


def _require(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.exit(f"{name} is not set: run the tests with `make test` (or scripts/with-env pytest)", returncode=2)
    return value


PG_PORT = int(_require("AOPS_LOCAL_PG_PORT"))
REPLICA_PORT = int(_require("AOPS_LOCAL_REPLICA_PORT"))
REDIS_PORT = int(_require("AOPS_LOCAL_REDIS_PORT"))
PG_USER = _require("AOPS_LOCAL_PG_USER")
PG_PASSWORD = _require("AOPS_LOCAL_PG_PASSWORD")
SUPERUSER = _require("AOPS_LOCAL_SUPERUSER")
STACK_DIR = Path(_require("AOPS_STACK_DIR"))
SUPERUSER_APP = "aops-tests-superuser"
ROOT = Path(__file__).resolve().parents[1]


def pg_conn_json(port: int, dbname: str = TEST_DB) -> str:
    return json.dumps(
        {
            "conn_type": "postgres",
            "host": "127.0.0.1",
            "port": port,
            "login": PG_USER,
            "password": PG_PASSWORD,
            "schema": dbname,
        }
    )


# Set before any test imports the library, so every connection the code under test opens goes to
# the test database of the local stack.
os.environ["AIRFLOW_CONN_ANALYTICS_DB"] = pg_conn_json(PG_PORT)
os.environ["AIRFLOW_CONN_ANALYTICS_DB_REPLICA"] = pg_conn_json(REPLICA_PORT)
# Redis database 15 of the local stack's server: the demo's cache (database 0) is left alone.
REDIS_DB = 15
os.environ["AIRFLOW_CONN_ANALYTICS_REDIS"] = json.dumps(
    {"conn_type": "redis", "host": "127.0.0.1", "port": REDIS_PORT, "extra": {"db": REDIS_DB}}
)

# dag.test() serializes a DAG from the DAG bundle that holds it: the suite's DAGs, plus the DAGs
# that only tests run (tests/dags).
os.environ["AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST"] = json.dumps(
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
)

# Backups the tests take go to a folder of this session on the local stack's disk (readable by the
# stack's OS user, who runs the recovery drills' servers), removed at the end; the tests' WAL slot
# is their own too (see `backups_under_test`).
BACKUP_ROOT = STACK_DIR / "test-backups" / secrets.token_hex(4)
os.environ["ANALYTICS_OPS_BACKUP_DESTINATION"] = BACKUP_ROOT.as_uri()
# Whether that folder counts as shared by every worker is the config's to say in the tests.
os.environ.pop("ANALYTICS_OPS_BACKUP_DESTINATION_SHARED", None)
TEST_WAL_SLOT = "aops_test_backup_wal"
# A test that replaces alerting.rules with its own leaves out the shipped rule that starts incident
# exports (incident_export.start_on_alerts must name rules that exist): override_config({..., **NO_ALERT_EXPORTS}).
NO_ALERT_EXPORTS = {"incident_export": {"start_on_alerts": []}}

# A real HTTP endpoint standing in for Slack: every alert the code under test sends lands here.
SLACK = Receiver().start()
SLACK_TOKEN = "T0TEST/B0TEST/" + secrets.token_hex(12)
os.environ["AIRFLOW_CONN_SLACK_OPS"] = json.dumps({"conn_type": "slackwebhook", "password": SLACK.url(SLACK_TOKEN)})
# The paging channel of the shipped routes (P0/P1): the same receiver, another webhook path.
ONCALL_TOKEN = "T0TEST/B0ONCALL/" + secrets.token_hex(12)
os.environ["AIRFLOW_CONN_SLACK_ONCALL"] = json.dumps({"conn_type": "slackwebhook", "password": SLACK.url(ONCALL_TOKEN)})


def admin_connect(dbname: str = "postgres", port: int = PG_PORT) -> Any:
    """An autocommit session as the suite's limited role, for arranging and inspecting data."""
    import psycopg

    return psycopg.connect(
        host="127.0.0.1",
        port=port,
        user=PG_USER,
        password=PG_PASSWORD,
        dbname=dbname,
        autocommit=True,
        application_name="aops-tests",
    )


def superuser_connect(dbname: str = "postgres", port: int = PG_PORT) -> Any:
    """An autocommit session as the stack's superuser: only for what the limited role may not do."""
    import psycopg

    return psycopg.connect(
        host="127.0.0.1",
        port=port,
        user=SUPERUSER,
        password=(STACK_DIR / "secrets" / "pg_password").read_text().strip(),
        dbname=dbname,
        autocommit=True,
        application_name=SUPERUSER_APP,
    )


def bootstrap_database(name: str) -> None:
    """The deployment's superuser bootstrap for database `name` (created when missing)."""
    subprocess.run([str(ROOT / "scripts" / "stack.sh"), "bootstrap-db", name], check=True, timeout=120)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """In CI a skipped test fails the run: what a skip hides (no chromium, no docker-compose) must
    be installed by the project's own setup, not silently left untested."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if os.environ.get("CI") == "true" and skipped and exitstatus == pytest.ExitCode.OK:
        reporter.write_line(f"CI: {len(skipped)} test(s) skipped; in CI every test must run", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked `runs_last` (the connection audit) run after every other collected test."""
    items.sort(key=lambda item: item.get_closest_marker("runs_last") is not None)


@pytest.fixture(scope="session", autouse=True)
def connection_log_offsets() -> dict[str, int]:
    """Where the local stack's server logs stood when the test session began (the connection audit)."""
    from tests.test_least_privilege import log_offsets

    return log_offsets()


@pytest.fixture(scope="session", autouse=True)
def test_database(connection_log_offsets: dict[str, int]) -> Iterator[str]:
    """A fresh `aops_test` database with every migration applied.

    Its time zone is deliberately not UTC: day boundaries must come from the SQL, not the session.
    """
    create_test_database()
    yield TEST_DB
    drop_test_leftovers()


def create_test_database() -> None:
    """`aops_test` anew, every migration applied (also how a test that filled it leaves it)."""
    from psycopg import sql

    from analytics_ops.core.db import connect
    from analytics_ops.core.migrations import apply_migrations

    with superuser_connect() as conn:  # whoever owned it before (a stack from before the role model)
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(TEST_DB)))
    bootstrap_database(TEST_DB)
    with admin_connect() as conn:
        conn.execute(sql.SQL("ALTER DATABASE {} SET timezone = 'Asia/Kolkata'").format(sql.Identifier(TEST_DB)))
    with connect() as conn:
        apply_migrations(conn)


def drop_test_leftovers() -> None:
    """What tests' backups and restores leave outside `aops_test`: files, WAL slot, databases."""
    import shutil

    from psycopg import sql

    shutil.rmtree(BACKUP_ROOT, ignore_errors=True)
    with admin_connect() as conn:
        # A slot nobody reads keeps WAL forever: the tests' own never outlives them.
        conn.execute(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s AND NOT active",
            (TEST_WAL_SLOT,),
        )
        for (name,) in conn.execute(
            "SELECT datname FROM pg_database "
            "WHERE datname LIKE 'aops\\_scratch\\_%' OR datname LIKE 'aops\\_restore\\_%'"
        ).fetchall():
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def db(test_database: str) -> Iterator[Any]:
    """An autocommit connection to the test database, for arranging and inspecting data."""
    with admin_connect(test_database) as conn:
        yield conn


@pytest.fixture
def empty_tasks(db: Any) -> Any:
    """The task-analytics tables emptied, so a test owns every row it reads."""
    db.execute("TRUNCATE tasks, users, daily_analytics, daily_analytics_archive, ops.run_log RESTART IDENTITY CASCADE")
    return db


@pytest.fixture
def slack() -> Receiver:
    """The webhook receiver, emptied for the test."""
    SLACK.clear()
    return SLACK


def _deep_merge(base: dict, override: dict) -> dict:
    merged = dict(base)
    for key, value in override.items():
        merged[key] = (
            _deep_merge(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) else value
        )
    return merged


@pytest.fixture
def override_config(tmp_path, monkeypatch):
    """Point the suite at the shipped config with some keys changed: override_config({"a": {"b": 1}})."""
    import yaml

    from analytics_ops.core.config import DEFAULT_CONFIG_PATH

    def apply(overrides: dict) -> Path:
        merged = _deep_merge(yaml.safe_load(DEFAULT_CONFIG_PATH.read_text()), overrides)
        path = tmp_path / "analytics_ops.yaml"
        path.write_text(yaml.safe_dump(merged))
        monkeypatch.setenv("ANALYTICS_OPS_CONFIG", str(path))
        return path

    return apply


@pytest.fixture
def redis_db() -> Iterator[Any]:
    """A client on the tests' Redis database, emptied before the test."""
    import redis

    client = redis.Redis(host="127.0.0.1", port=REDIS_PORT, db=REDIS_DB)
    client.flushdb()
    yield client
    client.close()


def wait_for_replica(timeout: float = 20) -> None:
    """Block until the replica has replayed everything the primary has written so far."""
    import time

    with admin_connect() as primary:
        # The insert position: with synchronous_commit = off (the local stack) a commit can still sit
        # in WAL buffers, ahead of pg_current_wal_lsn().
        target = primary.execute("SELECT pg_current_wal_insert_lsn()").fetchone()[0]
    deadline = time.monotonic() + timeout
    with admin_connect(port=REPLICA_PORT) as replica:
        while time.monotonic() < deadline:
            if replica.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (target,)).fetchone()[0]:
                return
            time.sleep(0.05)
    raise AssertionError(f"replica did not replay up to {target} within {timeout}s")


@pytest.fixture
def backups_under_test(override_config, db):
    """Backups under test: the tests' own WAL slot and a fast lock-wait timeout; an empty
    catalogue and backup folder; no retries (dag.test() would wait out a failed task's backoff)."""
    import shutil

    override_config(
        {
            "backups": {"wal_slot": TEST_WAL_SLOT, "lock_wait_timeout": "2s", "dump_jobs": 2},
            "dag_defaults": {"retries": 0},
        }
    )
    db.execute("TRUNCATE ops.backups")
    shutil.rmtree(BACKUP_ROOT, ignore_errors=True)
    drop_test_slot()
    yield db
    drop_test_slot()  # an inactive slot would hold WAL (and the health check would flag it)
    db.execute("TRUNCATE ops.backups")  # nor may a test's backup stand as the newest for the health checks


def drop_test_slot() -> None:
    with admin_connect() as admin:
        admin.execute(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s",
            (TEST_WAL_SLOT,),
        )


@pytest.fixture
def some_data(empty_tasks):
    db = empty_tasks
    db.execute(
        "INSERT INTO users (id, email, created_at) SELECT u, 'u' || u || '@example.com', now() "
        "FROM generate_series(1, 200) AS u"
    )
    db.execute(
        "INSERT INTO tasks (user_id, title, status, priority, created_at, updated_at) "
        "SELECT 1 + i % 200, 'task ' || i, 'todo', 'low', now(), now() FROM generate_series(1, 5000) AS i"
    )
    return db


SFTP_CONN_ID = "aops_test_backup_sftp"


class SftpServer:
    """A real OpenSSH sshd (Debian's openssh-server) serving SFTP on a loopback port, key auth only."""

    def __init__(self, root: Path, port: int, user: str, client_key: str, host_key: str) -> None:
        self.root, self.port, self.user = root, port, user
        self.client_key, self.host_key = client_key, host_key
        self.data = root / "data"

    def connection_json(self, **changes: Any) -> str:
        conn = {
            "conn_type": "sftp",
            "host": "127.0.0.1",
            "port": self.port,
            "login": self.user,
            "extra": {"private_key": self.client_key, "host_key": self.host_key},
        }
        return json.dumps(_deep_merge(conn, changes))

    def url(self, folder: str) -> str:
        return f"sftp://127.0.0.1{self.data / folder}"


@pytest.fixture(scope="session")
def sftp_server() -> Iterator[SftpServer]:
    """sshd on a free 127.0.0.1 port with its own host key and one authorized key, made for this
    session in a folder under the stack, serving SFTP only, as the unprivileged user the stack's
    servers run as (never as root: a non-root sshd only logs in its own user, which is all we need).
    Stopped, and its folder removed, at the end."""
    import contextlib
    import getpass
    import shutil
    import signal
    import socket
    import subprocess
    import tempfile
    import time

    from analytics_ops.backups.pg_tools import as_os_user
    from analytics_ops.core.config import load_config

    sshd = Path("/usr/sbin/sshd")
    if not sshd.exists():
        pytest.fail("sshd not found: install Debian's openssh-server (scripts/stack.sh install does)")
    user = load_config().backups.os_user if os.geteuid() == 0 else getpass.getuser()
    root = Path(tempfile.mkdtemp(prefix="aops-sftp-", dir=os.environ["AOPS_STACK_DIR"]))
    root.chmod(0o755)
    for name in ("ssh_host_ed25519_key", "client_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(root / name)], check=True)
    (root / "authorized_keys").write_text((root / "client_key.pub").read_text())
    (root / "data").mkdir()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    (root / "sshd_config").write_text(
        "\n".join(
            [
                f"Port {port}",
                "ListenAddress 127.0.0.1",
                f"HostKey {root / 'ssh_host_ed25519_key'}",
                f"PidFile {root / 'sshd.pid'}",
                f"AuthorizedKeysFile {root / 'authorized_keys'}",
                f"AllowUsers {user}",
                "PubkeyAuthentication yes",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "PermitRootLogin no",
                "UsePAM no",
                "StrictModes no",
                "AllowTcpForwarding no",
                "X11Forwarding no",
                "PermitTTY no",
                "Subsystem sftp internal-sftp",
                "ForceCommand internal-sftp",
                "LogLevel VERBOSE",
                "",
            ]
        )
    )
    if os.geteuid() == 0:
        for path in [root, *root.rglob("*")]:
            shutil.chown(path, user)
    log = (root / "sshd.log").open("w")
    # -D: stay in the foreground (a child of ours we can stop); -e: log to stderr (the log file).
    proc = subprocess.Popen(
        as_os_user([str(sshd), "-D", "-e", "-f", str(root / "sshd_config")], user), stdout=log, stderr=log
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            if proc.poll() is not None:
                pytest.fail(f"sshd exited with {proc.returncode}: {(root / 'sshd.log').read_text()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"sshd did not listen on {port}: {(root / 'sshd.log').read_text()[-2000:]}")
                time.sleep(0.05)
        host_key = " ".join((root / "ssh_host_ed25519_key.pub").read_text().split()[:2])
        yield SftpServer(root, port, user, (root / "client_key").read_text(), host_key)
    finally:
        # The listener's pid (under runuser when we are root), then what we started.
        pid_file = root / "sshd.pid"
        if pid_file.exists():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid_file.read_text().strip()), signal.SIGTERM)
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        shutil.rmtree(root, ignore_errors=True)
