"""The suite runs as its limited role, never as a superuser (issue 12; docs/roles.md).

The local stack's servers log every connection (`log_connections = on`, scripts/stack.sh). The
audit below reads what they logged during this test session, after every other test has run (see
`pytest_collection_modifyitems` in conftest.py), and checks each session's role in `pg_roles`:
only the bootstrap and the tests' own labelled arranging sessions may be a superuser's.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import pytest
from psycopg import sql

from analytics_ops.backups.pg_tools import server_major
from analytics_ops.core.db import connect
from analytics_ops.maintenance import vacuum_reindex as maintenance
from tests.conftest import PG_USER, ROOT, STACK_DIR, SUPERUSER_APP, TEST_DB, admin_connect, superuser_connect

# PostgreSQL 15-18: "connection authorized: user=X database=Y application_name=Z" (the name only when
# the client sent one at start-up) and "replication connection authorized: user=X application_name=Z".
_AUTHORIZED = re.compile(
    r"(?P<replication>replication )?connection authorized: user=(?P<user>\S+)"
    r"(?: database=(?P<database>\S+))?(?: application_name=(?P<app>.+?))?(?: SSL .*)?$"
)
# Who may be a superuser: the bootstrap (scripts/stack.sh, deploy/bootstrap.sh) and the tests'
# arranging sessions (conftest.superuser_connect).
SUPERUSER_APPS = {"aops-bootstrap", SUPERUSER_APP}
LOGS = {"primary": STACK_DIR / "log" / "primary.log", "replica": STACK_DIR / "log" / "replica.log"}


def log_offsets() -> dict[str, int]:
    return {name: path.stat().st_size if path.exists() else 0 for name, path in LOGS.items()}


def connections_since(offsets: dict[str, int]) -> list[dict[str, str | None]]:
    found = []
    for name, path in LOGS.items():
        with Path(path).open("rb") as log:
            log.seek(offsets[name])
            for line in log.read().decode(errors="replace").splitlines():
                match = _AUTHORIZED.search(line)
                if match:
                    found.append({"server": name, **match.groupdict()})
    return found


def test_parses_the_connection_lines_postgres_writes() -> None:
    assert _AUTHORIZED.search(
        "2026-12-03 14:40:01.123 UTC [811] LOG:  connection authorized: user=analytics_ops database=aops_test "
        "application_name=aops-tests"
    ).group("user", "database", "app") == ("analytics_ops", "aops_test", "aops-tests")
    line = "LOG:  replication connection authorized: user=replicator application_name=walreceiver"
    assert _AUTHORIZED.search(line).group("replication", "user", "app") == ("replication ", "replicator", "walreceiver")
    assert _AUTHORIZED.search("LOG:  connection authorized: user=x database=y").group("app") is None


def test_the_suites_role_is_not_a_superuser_and_has_no_more_than_it_needs() -> None:
    with admin_connect() as conn:
        major = server_major(conn)
        role = conn.execute(
            "SELECT rolsuper, rolcreaterole, rolbypassrls, rolreplication, rolcreatedb "
            "FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
        assert role == (False, False, False, True, True)
        memberships = {
            r[0]
            for r in conn.execute(
                "SELECT b.rolname FROM pg_auth_members AS m JOIN pg_roles AS b ON b.oid = m.roleid "
                "WHERE m.member = (SELECT oid FROM pg_roles WHERE rolname = current_user)"
            )
        }
    expected = {"pg_monitor", "pg_signal_backend", "pg_read_all_data"}
    assert memberships - {"pg_maintain"} == expected
    # PostgreSQL 17 added pg_maintain, which the bootstrap grants there (before: owner memberships).
    assert ("pg_maintain" in memberships) == (major >= 17)


APP_OWNER = "aops_test_app_owner"


@pytest.fixture
def table_of_another_owner():
    """`app_events`, owned by a role that is not the suite's (as an application's tables are); on
    PostgreSQL 17 and later without the pg_maintain the stack's bootstrap granted (it grants it again)."""
    with superuser_connect(TEST_DB) as su:
        maintain_role = server_major(su) >= 17
        if maintain_role:
            su.execute(sql.SQL("REVOKE pg_maintain FROM {}").format(sql.Identifier(PG_USER)))
        su.execute("DROP TABLE IF EXISTS app_events")
        su.execute(f"DROP ROLE IF EXISTS {APP_OWNER}")
        su.execute(f"CREATE ROLE {APP_OWNER} NOLOGIN")
        su.execute(f"GRANT CREATE ON SCHEMA public TO {APP_OWNER}")
        su.execute(f"SET ROLE {APP_OWNER}")
        su.execute("CREATE TABLE app_events (id bigint PRIMARY KEY, v text)")
        su.execute("INSERT INTO app_events SELECT g, md5(g::text) FROM generate_series(1, 20000) AS g")
        su.execute("DELETE FROM app_events WHERE id % 2 = 0")
        su.execute("RESET ROLE")
    yield "public.app_events"
    with superuser_connect(TEST_DB) as su:
        if maintain_role:
            su.execute(sql.SQL("GRANT pg_maintain TO {}").format(sql.Identifier(PG_USER)))
        su.execute("DROP TABLE IF EXISTS app_events")
        su.execute(f"REVOKE CREATE ON SCHEMA public FROM {APP_OWNER}")
        su.execute(f"DROP ROLE IF EXISTS {APP_OWNER}")


def _maintain(table: str) -> tuple[dict, dict]:
    with connect(autocommit=True, application_name="analytics-ops:least-privilege-test") as conn:
        return maintenance.vacuum_table(conn, table), maintenance.reindex_index(conn, "public.app_events_pkey")


def test_vacuum_and_reindex_of_a_table_the_role_does_not_own(table_of_another_owner: str) -> None:
    # Without a grant, VACUUM would only warn and skip the table: the suite refuses, naming the grant.
    with pytest.raises(maintenance.MaintenancePrivilegeMissing, match=f"owned by {APP_OWNER}.*pg_maintain"):
        _maintain(table_of_another_owner)
    with admin_connect(TEST_DB) as conn:
        assert (
            conn.execute("SELECT vacuum_count FROM pg_stat_user_tables WHERE relname = 'app_events'").fetchone()[0] == 0
        )
        filenode = conn.execute("SELECT pg_relation_filenode('app_events_pkey')").fetchone()[0]

    # What the deployment's bootstrap grants for it (pg_maintain on 17+, membership of the owner before).
    subprocess.run(
        [str(ROOT / "scripts" / "stack.sh"), "bootstrap-db", TEST_DB],
        env={**os.environ, "ANALYTICS_MAINTAINED_OWNERS": APP_OWNER},
        check=True,
        timeout=120,
    )
    vacuumed, reindexed = _maintain(table_of_another_owner)
    assert vacuumed["table"] == table_of_another_owner
    with admin_connect(TEST_DB) as conn:
        assert conn.execute("SELECT pg_relation_filenode('app_events_pkey')").fetchone()[0] != filenode
        assert conn.execute(
            "SELECT last_vacuum IS NOT NULL FROM pg_stat_user_tables WHERE relname = 'app_events'"
        ).fetchone()[0]
    assert reindexed["index"] == "public.app_events_pkey"


@pytest.mark.runs_last
def test_every_session_of_the_test_run_was_the_limited_roles(connection_log_offsets: dict[str, int]) -> None:
    # One session of the suite's own on each server, so the audit is never vacuous, whichever tests ran.
    for conn_id in ("analytics_db", "analytics_db_replica"):
        with connect(conn_id, application_name="analytics-ops:connection-audit") as conn:
            conn.execute("SELECT 1")
    deadline = time.monotonic() + 10  # the servers write their log lines asynchronously
    while True:
        sessions = connections_since(connection_log_offsets)
        suite = [s for s in sessions if s["user"] == PG_USER]
        if {s["server"] for s in suite} == {"primary", "replica"} or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    with superuser_connect() as conn:
        superusers = {r[0] for r in conn.execute("SELECT rolname FROM pg_roles WHERE rolsuper")}
    by_superuser = [s for s in sessions if s["user"] in superusers and s["app"] not in SUPERUSER_APPS]
    assert not by_superuser, f"{len(by_superuser)} session(s) as a superuser, e.g. {by_superuser[:5]}"
    # Not vacuous: the log shows the suite's role on both servers (the whole run: hundreds of times).
    assert {s["server"] for s in suite} == {"primary", "replica"}, sessions[-5:]
