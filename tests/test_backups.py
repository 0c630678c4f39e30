"""Backups against the real primary: full dump + verified restore, corruption, WAL, PITR, retention."""

from __future__ import annotations

import subprocess
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from analytics_ops.backup_catalog import BackupEntry, plan_retention
from analytics_ops.backup_jobs import (
    prepare_wal_slot,
    run_base_backup_if_due,
    run_full_backup,
    run_full_verification,
    run_restore_drill,
    run_retention,
    run_wal_fetch,
)
from analytics_ops.backups import BackupVerificationFailed
from analytics_ops.config import load_config
from analytics_ops.db import connect
from analytics_ops.pg_tools import pg_target
from analytics_ops.wal_backups import WalChainBroken, check_chain, recover
from tests.conftest import (
    BACKUP_ROOT,
    PG_PASSWORD,
    TEST_DB,
    TEST_WAL_SLOT,
    admin_connect,
    drop_test_slot,
    superuser_connect,
)

APP = "analytics-ops:backup-test"


def catalogue_row(db, backup_id: str) -> tuple:
    return db.execute(
        "SELECT verified_at IS NOT NULL, verification, manifest FROM ops.backups WHERE backup_id = %s", (backup_id,)
    ).fetchone()


def test_full_backup_verifies_by_restoring_and_counts_match(backups_under_test, some_data):
    db = some_data
    result = run_full_backup("full-20261123T030000Z", dag_id="t", run_id="r1", application_name=APP)
    folder = BACKUP_ROOT / "full" / "full-20261123T030000Z"
    assert (folder / "manifest.json").is_file() and (folder / "toc.dat").is_file()
    verified, _, manifest = catalogue_row(db, "full-20261123T030000Z")
    assert not verified  # not before the restore test
    assert manifest["row_counts"]["public.tasks"] == 5000 and manifest["row_counts"]["public.users"] == 200
    assert result["tables"] == len(manifest["row_counts"]) and manifest["snapshot"]
    assert set(manifest["files"]) == {p.name for p in folder.iterdir()} - {"manifest.json"}

    outcome = run_full_verification("full-20261123T030000Z", application_name=APP)

    assert outcome["rows_compared"] == sum(manifest["row_counts"].values()) and outcome["tables_compared"] > 10
    verified, verification, _ = catalogue_row(db, "full-20261123T030000Z")
    assert verified and verification["files_checked"] == len(manifest["files"])
    with admin_connect() as admin:  # the scratch database is gone
        assert not admin.execute("SELECT 1 FROM pg_database WHERE datname LIKE 'aops_scratch_%'").fetchone()


def test_row_counts_are_those_of_the_dump_snapshot_while_writers_keep_writing(backups_under_test, some_data):
    db = some_data
    stop = threading.Event()
    written = {"rows": 0}

    def writer() -> None:
        with admin_connect(TEST_DB) as conn:
            while not stop.is_set():
                conn.execute(
                    "INSERT INTO tasks (user_id, title, status, priority, created_at) "
                    "VALUES (1, 'late', 'todo', 'low', now())"
                )
                written["rows"] += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        run_full_backup("full-20261123T040000Z", dag_id="t", run_id="r2", application_name=APP)
    finally:
        stop.set()
        thread.join()
    manifest = catalogue_row(db, "full-20261123T040000Z")[2]
    live = db.execute("SELECT count(*) FROM tasks").fetchone()[0]
    assert written["rows"] > 0 and manifest["row_counts"]["public.tasks"] < live
    # The restore has exactly the manifest's rows: the counts were taken in the dump's snapshot.
    run_full_verification("full-20261123T040000Z", application_name=APP)
    assert catalogue_row(db, "full-20261123T040000Z")[0]


def test_one_flipped_byte_fails_verification_loudly(backups_under_test, some_data):
    db = some_data
    run_full_backup("full-20261123T050000Z", dag_id="t", run_id="r3", application_name=APP)
    folder = BACKUP_ROOT / "full" / "full-20261123T050000Z"
    victim = max((p for p in folder.iterdir() if p.name.endswith(".dat.gz")), key=lambda p: p.stat().st_size)
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0x01
    victim.write_bytes(bytes(data))

    with pytest.raises(BackupVerificationFailed, match=rf"is corrupt, 1 file\(s\) differ.*{victim.name}: sha256"):
        run_full_verification("full-20261123T050000Z", application_name=APP)
    verified, verification, _ = catalogue_row(db, "full-20261123T050000Z")
    assert not verified and "is corrupt" in verification["error"]


def test_a_backup_to_a_remote_destination_goes_through_object_storage(backups_under_test, some_data, monkeypatch):
    from airflow.sdk import ObjectStoragePath
    from airflow.sdk.io import attach
    from fsspec.implementations.memory import MemoryFileSystem

    attach("memory", fs=MemoryFileSystem())  # an fsspec filesystem that is not local disk
    monkeypatch.setenv("ANALYTICS_OPS_BACKUP_DESTINATION", "memory://bucket/aops")
    run_full_backup("full-20261123T060000Z", dag_id="t", run_id="r4", application_name=APP)
    remote = ObjectStoragePath("memory://bucket/aops/full/full-20261123T060000Z")
    assert (remote / "manifest.json").exists() and (remote / "toc.dat").exists()
    assert not (BACKUP_ROOT / "full" / "full-20261123T060000Z").exists()
    run_full_verification("full-20261123T060000Z", application_name=APP)
    assert catalogue_row(some_data, "full-20261123T060000Z")[0]


def test_pg_dump_gives_up_on_a_held_exclusive_lock_and_never_shows_the_password(backups_under_test, some_data):
    seen: list[str] = []
    failure: list[BaseException] = []

    def dump() -> None:
        try:
            run_full_backup("full-20261123T070000Z", dag_id="t", run_id="r5", application_name=APP)
        except BaseException as exc:
            failure.append(exc)

    with admin_connect(TEST_DB) as locker:
        locker.autocommit = False
        locker.execute("LOCK TABLE tasks IN ACCESS EXCLUSIVE MODE")
        worker = threading.Thread(target=dump)
        worker.start()
        while worker.is_alive():  # pg_dump waits for the lock (2 s): its command line is on show
            seen += subprocess.run(
                ["ps", "-eww", "-o", "args"], capture_output=True, text=True, check=True
            ).stdout.splitlines()
            time.sleep(0.05)
        worker.join()
        locker.rollback()
    dumps = [line for line in seen if "pg_dump" in line and "--snapshot" in line]
    assert dumps, "pg_dump was never seen running"
    assert not [line for line in seen if PG_PASSWORD in line]
    assert failure and "lock" in str(failure[0]).lower()
    assert PG_PASSWORD not in str(failure[0])
    assert not list(Path("/tmp").glob("aops-pgpass-*"))  # the passfile is gone


def entry(backup_id: str, kind: str, days_ago: float, verified: bool, start_wal: str | None = None) -> BackupEntry:
    now = datetime(2026, 11, 23, 12, tzinfo=UTC)
    started = now - timedelta(days=days_ago)
    return BackupEntry(
        backup_id,
        kind,
        f"file:///b/{backup_id}",
        started,
        started + timedelta(minutes=5),
        started + timedelta(minutes=10) if verified else None,
        1,
        {"start_wal_file": start_wal} if start_wal else {},
    )


def seg(n: int) -> str:
    return f"00000001{n >> 8:08X}{n & 0xFF:08X}"


def test_retention_keeps_thirty_days_and_what_the_newest_restorable_point_needs():
    now = datetime(2026, 11, 23, 12, tzinfo=UTC)
    backups = [
        entry("full-old-unverified", "full", 40, False),
        entry("full-old-verified", "full", 35, True),
        entry("full-recent", "full", 3, True),
        entry("base-old", "base", 45, True, seg(0x100)),
        entry("base-kept", "base", 20, True, seg(0x180)),
    ]
    wal = [seg(n) for n in range(0x0FF, 0x1A0)] + [seg(0x1A0) + ".partial", "00000002.history"]
    plan = plan_retention(backups, wal, now, 30)
    assert sorted(b.backup_id for b in plan.delete_backups) == ["base-old", "full-old-unverified", "full-old-verified"]
    assert plan.delete_wal == [seg(n) for n in range(0x0FF, 0x180)]  # everything before base-kept's start
    assert plan.kept == {"base-kept": "newest verified base backup", "full-recent": "newest verified full backup"}

    # Whatever the dates say: with nothing recent, the newest verified of each kind stays, with its WAL.
    old_only = [
        entry("full-a", "full", 90, True),
        entry("full-b", "full", 60, False),
        entry("base-a", "base", 70, True, seg(0x100)),
    ]
    plan = plan_retention(old_only, wal, now, 30)
    assert [b.backup_id for b in plan.delete_backups] == ["full-b"]
    assert plan.kept == {"full-a": "newest verified full backup", "base-a": "newest verified base backup"}
    assert plan.delete_wal == [seg(0x0FF)]
    # No base backup at all: no WAL is deleted.
    assert plan_retention([entry("full-a", "full", 90, True)], wal, now, 30).delete_wal == []


def test_retention_deletes_files_and_lists_them(backups_under_test, some_data, capsys):
    db = some_data
    for backup_id in ("full-20261001T030000Z", "full-20261002T030000Z"):
        run_full_backup(backup_id, dag_id="t", run_id=backup_id, application_name=APP)
    run_full_verification("full-20261002T030000Z", application_name=APP)
    db.execute("UPDATE ops.backups SET started_at = started_at - interval '60 days'")
    run_full_backup("full-20261123T030000Z", dag_id="t", run_id="r", application_name=APP)

    summary = run_retention(datetime.now(UTC), application_name=APP)

    # The newest verified full backup is 60 days old and stays; the older one goes; the unverified
    # recent one stays for its 30 days.
    assert summary["deleted_backups"] == ["full-20261001T030000Z"]
    assert not (BACKUP_ROOT / "full" / "full-20261001T030000Z").exists()
    assert (BACKUP_ROOT / "full" / "full-20261002T030000Z" / "manifest.json").exists()
    assert "deleted backup full-20261001T030000Z" in capsys.readouterr().out
    deleted = db.execute("SELECT backup_id FROM ops.backups WHERE deleted_at IS NOT NULL").fetchall()
    assert deleted == [("full-20261001T030000Z",)]


def make_wal(db, switches: int) -> None:
    for _ in range(switches):
        db.execute("INSERT INTO ops.run_log (dag_id, run_id, task_id, started_at, finished_at, outcome) "
                   "VALUES ('wal', 'wal', 'wal', now(), now(), 'success')")  # fmt: skip
        db.execute("SELECT pg_switch_wal()")


def test_base_backup_plus_wal_recovers_to_a_point_in_time(backups_under_test):
    db = backups_under_test
    db.execute("CREATE TABLE IF NOT EXISTS pitr_probe (note text PRIMARY KEY)")
    db.execute("TRUNCATE pitr_probe")
    slot = prepare_wal_slot(application_name=APP)
    assert slot["created"] and slot["base_backup_required"]
    base = run_base_backup_if_due(
        "base-20261123T000000Z", datetime.now(UTC), required=True, dag_id="t", run_id="r", application_name=APP
    )
    assert base["taken"]

    run_wal_fetch(application_name=APP)  # WAL comes in over several runs: the next starts mid-segment
    db.execute("INSERT INTO pitr_probe VALUES ('after the base backup, before the target')")
    time.sleep(0.3)
    target = db.execute("SELECT clock_timestamp()").fetchone()[0]
    time.sleep(0.3)
    db.execute("INSERT INTO pitr_probe VALUES ('after the target')")
    fetched = run_wal_fetch(application_name=APP)
    assert fetched["chain"]["base_backup"] == "base-20261123T000000Z" and fetched["chain"]["segments"] >= 1
    assert fetched["slot"]["retained_mb"] < 32  # the fetch let the primary recycle what it held (< 2 segments)

    settings = load_config().backups
    with connect() as conn:
        template = pg_target("analytics_db")
        major = conn.execute("SHOW server_version_num").fetchone()[0]
    with (
        recover(
            stored("base", "base-20261123T000000Z"),
            stored("wal"),
            settings,
            target_time=target,
            template=template,
            server_major_version=int(major) // 10000,
        ) as recovered,
        recovered.connect() as conn,
    ):
        notes = [row[0] for row in conn.execute("SELECT note FROM pitr_probe ORDER BY note")]
    assert notes == ["after the base backup, before the target"]

    # The drill (everything, no target) has both rows and marks the base backup verified.
    drill = run_restore_drill(application_name=APP)
    assert drill["base_backup"] == "base-20261123T000000Z"
    assert db.execute(
        "SELECT verified_at IS NOT NULL FROM ops.backups WHERE backup_id = %s", (drill["base_backup"],)
    ).fetchone()[0]
    # A second run: the base backup is recent and verified, so only WAL is fetched.
    again = run_base_backup_if_due(
        "base-x", datetime.now(UTC), required=False, dag_id="t", run_id="r", application_name=APP
    )
    assert not again["taken"]


def stored(*parts: str):
    from airflow.sdk import ObjectStoragePath

    return ObjectStoragePath(BACKUP_ROOT.joinpath(*parts).as_uri())


def test_a_recreated_slot_starts_a_new_chain_that_recovers(backups_under_test):
    db = backups_under_test
    prepare_wal_slot(application_name=APP)
    now = datetime.now(UTC)
    run_base_backup_if_due("base-20261120T000000Z", now, required=True, dag_id="t", run_id="r", application_name=APP)
    run_wal_fetch(application_name=APP)
    make_wal(db, 1)
    old_end = run_wal_fetch(application_name=APP)["newest"]  # a partial segment nobody will complete
    assert old_end.endswith(".partial")
    drop_test_slot()  # as if the server had invalidated it
    make_wal(db, 3)  # WAL the new slot never sees ...
    with superuser_connect() as admin:
        admin.execute("CHECKPOINT")  # ... and that the primary removes
        admin.execute("CHECKPOINT")

    slot = prepare_wal_slot(application_name=APP)
    assert slot["created"] and slot["base_backup_required"]
    base = run_base_backup_if_due(
        "base-20261121T000000Z", now, required=True, dag_id="t", run_id="r", application_name=APP
    )
    fetched = run_wal_fetch(application_name=APP)  # from the new slot, not from the old chain's file
    assert fetched["chain"]["base_backup"] == base["base_backup"] and fetched["chain"]["segments"] >= 1
    assert old_end not in fetched["fetched"] and (BACKUP_ROOT / "wal" / old_end).exists()
    drill = run_restore_drill(application_name=APP)
    assert drill["base_backup"] == "base-20261121T000000Z" and drill["tables"] > 0


def test_wal_chain_gaps_are_found():
    assert check_chain(seg(0x100), [seg(0x100), seg(0x101), seg(0x102) + ".partial"]) == {
        "segments": 3,
        "newest": seg(0x102) + ".partial",
    }
    with pytest.raises(WalChainBroken, match="1 segment"):
        check_chain(seg(0x100), [seg(0x100), seg(0x102)])
    with pytest.raises(WalChainBroken, match="partial segments before the newest"):
        check_chain(seg(0x100), [seg(0x100) + ".partial", seg(0x101)])


@pytest.fixture
def throwaway_primary(monkeypatch):
    """A primary of our own with a small max_slot_wal_keep_size, so invalidating a slot touches no
    other slot of the local stack (the setting is server-wide). The suite's connection points at it."""
    import json
    import os
    import shutil
    import socket
    import tempfile

    from analytics_ops.pg_tools import as_os_user

    pg_bin = Path(os.environ["AOPS_LOCAL_PG_BIN"])
    os_user = load_config().backups.os_user
    work = Path(tempfile.mkdtemp(prefix="aops-slot-test-", dir=os.environ["AOPS_STACK_DIR"]))
    data = work / "data"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    if os.geteuid() == 0:
        shutil.chown(work, os_user)
    run = lambda *argv: subprocess.run(as_os_user([str(a) for a in argv], os_user), check=True, capture_output=True)  # noqa: E731
    run(pg_bin / "initdb", "-D", data, "-U", "aops_admin", "--auth=trust")
    options = f"-p {port} -k {work} -c listen_addresses=127.0.0.1 -c max_slot_wal_keep_size=32MB -c fsync=off"
    run(pg_bin / "pg_ctl", "-D", data, "-o", options, "-l", work / "log", "-w", "start")
    monkeypatch.setenv(
        "AIRFLOW_CONN_ANALYTICS_DB",
        json.dumps(
            {"conn_type": "postgres", "host": "127.0.0.1", "port": port, "login": "aops_admin", "schema": "postgres"}
        ),
    )
    try:
        yield port
    finally:
        run(pg_bin / "pg_ctl", "-D", data, "-m", "immediate", "stop")
        shutil.rmtree(work, ignore_errors=True)


def test_an_invalidated_slot_is_recreated_and_requires_a_new_base_backup(override_config, throwaway_primary):
    import psycopg

    override_config({"backups": {"wal_slot": TEST_WAL_SLOT}})
    assert prepare_wal_slot(application_name=APP)["created"]
    with psycopg.connect(
        host="127.0.0.1", port=throwaway_primary, user="aops_admin", dbname="postgres", autocommit=True
    ) as db:
        db.execute("CREATE TABLE filler (x int)")
        for _ in range(4):  # 4 segments of WAL that nobody fetches, more than the server's 32MB cap
            db.execute("INSERT INTO filler SELECT generate_series(1, 1000)")
            db.execute("SELECT pg_switch_wal()")
        db.execute("CHECKPOINT")
        status = db.execute(
            "SELECT wal_status FROM pg_replication_slots WHERE slot_name = %s", (TEST_WAL_SLOT,)
        ).fetchone()[0]
    assert status == "lost"
    state = prepare_wal_slot(application_name=APP)
    assert state["wal_status"] == "lost" and state["reset"] and state["base_backup_required"]
    assert prepare_wal_slot(application_name=APP)["wal_status"] == "reserved"


def test_a_slot_nobody_reads_holds_wal_until_fetched(backups_under_test):
    db = backups_under_test
    prepare_wal_slot(application_name=APP)
    make_wal(db, 2)
    with connect() as conn:
        held = conn.execute(
            "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn) FROM pg_replication_slots WHERE slot_name = %s",
            (TEST_WAL_SLOT,),
        ).fetchone()[0]
    assert held > 16 * 2**20
    assert run_wal_fetch(application_name=APP)["slot"]["retained_mb"] < 32
