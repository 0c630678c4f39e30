"""Backups against the real primary: full dump + verified restore, corruption, WAL, PITR, retention."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from analytics_ops.backups.catalog import BackupEntry, plan_retention
from analytics_ops.backups.full import BackupVerificationFailed
from analytics_ops.backups.jobs import (
    prepare_wal_slot,
    run_base_backup_if_due,
    run_full_backup,
    run_full_verification,
    run_restore_drill,
    run_retention,
    run_wal_fetch,
)
from analytics_ops.backups.pg_tools import pg_target
from analytics_ops.backups.recovery import recover
from analytics_ops.backups.wal import WalChainBroken, check_chain
from analytics_ops.core.config import load_config
from analytics_ops.core.db import connect
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


@pytest.mark.parametrize("compression", [0, 1])
def test_row_counts_are_read_from_the_dump_files_whatever_the_values(
    backups_under_test, some_data, override_config, compression
):
    """The manifest's counts come from the data files pg_dump wrote (not a second scan of the
    primary): values with newlines, backslashes and a lone `\\.` count once, an empty table as 0."""
    from analytics_ops.backups.full import dumped_row_counts
    from analytics_ops.backups.pg_tools import client_env, find_binary

    db = some_data
    override_config({"backups": {"wal_slot": TEST_WAL_SLOT, "compression_level": compression}})
    db.execute("DROP TABLE IF EXISTS odd_values, empty_one")
    db.execute("CREATE TABLE odd_values (v text)")
    db.execute("CREATE TABLE empty_one (v text)")
    odd = ["a\nb", "\\.", "\\", "back\\slash", "", None, "tab\there", "\r\n", "\\.\n\\."]
    db.execute("INSERT INTO odd_values SELECT unnest(%s::text[])", (odd,))
    try:
        run_full_backup(f"full-20261123T06000{compression}Z", dag_id="t", run_id="r", application_name=APP)
        manifest = catalogue_row(db, f"full-20261123T06000{compression}Z")[2]
        in_db = {
            name: db.execute(f"SELECT count(*) FROM {name}").fetchone()[0]  # noqa: S608 (names from the manifest)
            for name in manifest["row_counts"]
            if name.startswith("public.")  # the suite's own ops.* tables change as the backup is recorded
        }
        assert {k: v for k, v in manifest["row_counts"].items() if k in in_db} == in_db and len(in_db) > 5
        assert (manifest["row_counts"]["public.odd_values"], manifest["row_counts"]["public.empty_one"]) == (9, 0)

        # A data file cut short (no end-of-data line) is refused, not counted.
        folder = BACKUP_ROOT / "full" / f"full-20261123T06000{compression}Z"
        target = pg_target("analytics_db")
        with client_env(target) as env:
            pg_restore = find_binary("pg_restore", int(manifest["server_version"].split(".")[0]), None)
            toc = subprocess.run(
                [pg_restore, "--list", str(folder)], env=env, check=True, capture_output=True, text=True
            )
        dump_id = next(line.split(";")[0] for line in toc.stdout.splitlines() if "TABLE DATA public odd_values" in line)
        data = next(folder.glob(f"{dump_id}.dat*"))
        if compression:
            import gzip

            data.write_bytes(gzip.compress(gzip.decompress(data.read_bytes())[:6]))
        else:
            data.write_bytes(data.read_bytes()[:6])
        with pytest.raises(BackupVerificationFailed, match=r"public.odd_values: data file \d+ does not end with"):
            dumped_row_counts(folder, [("public", "odd_values")], toc.stdout)
    finally:
        db.execute("DROP TABLE IF EXISTS odd_values, empty_one")


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
        deadline = time.monotonic() + 60
        while worker.is_alive():  # pg_dump waits for the lock (2 s): its command line is on show
            if time.monotonic() > deadline:
                locker.rollback()  # so the dump can finish and its thread end
                worker.join(120)
                pytest.fail("pg_dump still waited for the lock after 60 s: backups.lock_wait_timeout (2s) unused")
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
    assert sorted(b.backup_id for b in plan.delete_backups) == ["full-old-unverified", "full-old-verified"]
    # base-old is the only way to recover the first 10 days of the 30-day window: it and its WAL stay.
    assert plan.delete_wal == [seg(0x0FF)]
    assert plan.kept == {
        "base-old": "recovers the start of the 30-day window",
        "base-kept": "newest verified base backup",
        "full-recent": "newest verified full backup",
    }

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
    # A second run: the base backup is recent and verified, so only WAL is fetched; on 17+ an
    # incremental base backup is taken on top of it as well.
    again = run_base_backup_if_due(
        "base-x", datetime.now(UTC), required=False, dag_id="t", run_id="r", application_name=APP
    )
    if int(major) // 10000 < 17:
        assert not again["taken"]
    else:
        assert again["taken"] and again["kind"] == "incremental" and again["base_backup"] == "incr-x"
        assert again["chain"] == ["base-20261123T000000Z", "incr-x"]


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

    from analytics_ops.backups.pg_tools import as_os_user

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


# --- Several hosts: a destination every worker reaches, or a refusal --------------------------------


def test_a_worker_local_folder_is_refused_when_the_executor_spreads_tasks_over_hosts():
    from analytics_ops.backups.storage import spreads_over_hosts, unshared_destination_problem

    local = "file:///var/backups/analytics-ops"
    for executors in (["LocalExecutor"], ["SequentialExecutor"], ["airflow.executors.local_executor.LocalExecutor"]):
        assert not spreads_over_hosts(executors)
        assert unshared_destination_problem(local, "backups.destination", shared=False, executors=executors) is None
    for executors in (
        ["CeleryExecutor"],
        ["KubernetesExecutor"],
        ["LocalExecutor", "CeleryExecutor"],
        ["gpu:airflow.providers.celery.executors.celery_executor.CeleryExecutor"],
    ):
        assert spreads_over_hosts(executors)
        problem = unshared_destination_problem(local, "backups.destination", shared=False, executors=executors)
        assert problem and "backups.destination is file:///var/backups/analytics-ops" in problem
        assert "backups.destination_shared_by_workers: true" in problem and "Nothing was backed up" in problem
        # A folder every worker mounts is fine once the config says so; remote destinations always are.
        assert unshared_destination_problem(local, "backups.destination", shared=True, executors=executors) is None
        for remote in ("sftp://backup-host/srv/aops", "s3://bucket/aops", "gs://bucket/aops"):
            problem = unshared_destination_problem(remote, "backups.destination", shared=False, executors=executors)
            assert problem is None
    assert "ANALYTICS_OPS_BACKUP_DESTINATION" in unshared_destination_problem(
        "local:///b", "ANALYTICS_OPS_BACKUP_DESTINATION", shared=False, executors=["CeleryExecutor"]
    )


def test_the_deployment_can_say_its_backup_folder_is_shared(monkeypatch) -> None:
    from analytics_ops.backups.storage import DESTINATION_SHARED_ENV, destination_shared
    from analytics_ops.core.config import BackupSettings

    unshared, shared = BackupSettings(), BackupSettings(destination_shared_by_workers=True)
    monkeypatch.delenv(DESTINATION_SHARED_ENV, raising=False)
    assert (destination_shared(unshared), destination_shared(shared)) == (False, True)
    monkeypatch.setenv(DESTINATION_SHARED_ENV, "true")  # compose's one Docker host, the local stack
    assert destination_shared(unshared)
    monkeypatch.setenv(DESTINATION_SHARED_ENV, "false")  # the environment wins either way
    assert not destination_shared(shared)


def test_a_refused_backup_run_writes_nothing(backups_under_test, some_data, override_config, monkeypatch):
    from analytics_ops.backups.restore import RestorePlan, restore_tables
    from analytics_ops.backups.storage import DestinationNotShared

    db = some_data
    db.execute(
        "INSERT INTO ops.backups (backup_id, kind, location, started_at, finished_at, verified_at, manifest) "
        "VALUES ('full-20260101T030000Z', 'full', %s, now() - interval '90 days', now() - interval '90 days', "
        "now() - interval '90 days', '{}'), ('full-20260102T030000Z', 'full', %s, now() - interval '89 days', "
        "now() - interval '89 days', now() - interval '89 days', '{}')",
        ((BACKUP_ROOT / "full" / "full-20260101T030000Z").as_uri(), (BACKUP_ROOT / "full" / "x").as_uri()),
    )
    (BACKUP_ROOT / "full" / "full-20260101T030000Z").mkdir(parents=True)
    before_backups = db.execute("SELECT * FROM ops.backups ORDER BY backup_id").fetchall()
    before_log = db.execute("SELECT count(*) FROM ops.run_log").fetchone()[0]
    before_dbs = db.execute("SELECT count(*) FROM pg_database").fetchone()[0]
    # The Celery deployment's setting, read by the check from Airflow's config (no DB).
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "CeleryExecutor")

    tasks = {
        "dump": lambda: run_full_backup("full-20261123T080000Z", dag_id="t", run_id="r", application_name=APP),
        "verify": lambda: run_full_verification("full-20260102T030000Z", application_name=APP),
        "retention": lambda: run_retention(datetime.now(UTC), application_name=APP),
        "slot": lambda: prepare_wal_slot(application_name=APP),
        "base": lambda: run_base_backup_if_due(
            "base-20261123T080000Z", datetime.now(UTC), required=True, dag_id="t", run_id="r", application_name=APP
        ),
        "wal": lambda: run_wal_fetch(application_name=APP),
        "drill": lambda: run_restore_drill(application_name=APP, always=True),
        "restore": lambda: restore_tables(
            RestorePlan(
                "full-20260101T030000Z",
                (BACKUP_ROOT / "full" / "x").as_uri(),
                (("public", "tasks"),),
                "aops_restore_refused",
                False,
                {"public.tasks": 5000},
            ),
            pg_target("analytics_db"),
            load_config().backups,
            lock_timeout=timedelta(seconds=5),
            application_name=APP,
        ),
    }
    for name, task in tasks.items():
        with pytest.raises(DestinationNotShared, match=r"backups\.destination_shared_by_workers: true") as refused:
            task()
        assert "ANALYTICS_OPS_BACKUP_DESTINATION (which overrides backups.destination)" in str(refused.value), name

    assert db.execute("SELECT * FROM ops.backups ORDER BY backup_id").fetchall() == before_backups
    assert db.execute("SELECT count(*) FROM ops.run_log").fetchone()[0] == before_log
    assert db.execute("SELECT count(*) FROM pg_database").fetchone()[0] == before_dbs
    assert not db.execute("SELECT 1 FROM pg_replication_slots WHERE slot_name = %s", (TEST_WAL_SLOT,)).fetchone()
    assert sorted(p.relative_to(BACKUP_ROOT).as_posix() for p in BACKUP_ROOT.rglob("*")) == [
        "full",
        "full/full-20260101T030000Z",
    ]

    # Said to be shared by every worker (an NFS mount, one host): the same run goes ahead.
    override_config({"backups": {"wal_slot": TEST_WAL_SLOT, "destination_shared_by_workers": True}})
    assert run_full_backup("full-20261123T080000Z", dag_id="t", run_id="r", application_name=APP)["files"] > 0


@pytest.fixture
def sftp_backups(backups_under_test, override_config, sftp_server, monkeypatch):
    """Backups under test, to a fresh folder on the real SFTP server, through an Airflow connection
    that holds the key; the executor set to Celery (tasks on several hosts)."""
    import shutil
    import uuid

    from tests.conftest import SFTP_CONN_ID

    folder = f"backups-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv(f"AIRFLOW_CONN_{SFTP_CONN_ID.upper()}", sftp_server.connection_json())
    monkeypatch.setenv("ANALYTICS_OPS_BACKUP_DESTINATION", sftp_server.url(folder))
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "CeleryExecutor")
    override_config(
        {
            "backups": {
                "wal_slot": TEST_WAL_SLOT,
                "lock_wait_timeout": "2s",
                "dump_jobs": 2,
                "destination_connection": SFTP_CONN_ID,
            }
        }
    )
    yield sftp_server.data / folder
    shutil.rmtree(sftp_server.data / folder, ignore_errors=True)


WORKER_CODE = """
import json, sys
from datetime import UTC, datetime
from analytics_ops.backups import jobs as backup_jobs
from analytics_ops.backups.storage import destination_root
from analytics_ops.core.config import load_config
from analytics_ops.backups.wal import check_chain
from analytics_ops.backups.restore import plan_restore, restore_tables
from analytics_ops.backups.pg_tools import pg_target

def chain(base_id):
    from analytics_ops.backups.catalog import list_backups
    from analytics_ops.core.db import connect
    with connect() as conn:
        base = next(b for b in list_backups(conn) if b.backup_id == base_id)
    wal = destination_root(load_config().backups) / "wal"
    return check_chain(base.manifest["start_wal_file"], [p.name for p in wal.iterdir()])

def restore(backup_id):
    from analytics_ops.backups.catalog import list_backups
    from analytics_ops.core.db import connect
    config = load_config()
    with connect() as conn:
        plan = plan_restore({"tables": ["public.tasks", "public.users"], "backup_id": backup_id},
                            list_backups(conn), conn.info.dbname, "aops_restore_")
    return restore_tables(plan, pg_target("analytics_db"), config.backups,
                          lock_timeout=config.database.lock_timeout, application_name="worker")

def pitr_probe(base_id):
    from analytics_ops.backups.recovery import recover
    from analytics_ops.backups.pg_tools import server_major
    root = destination_root(load_config().backups)
    target = pg_target("analytics_db")
    with target.connect() as conn:
        major = server_major(conn)
    with recover(root / "base" / base_id, root / "wal", load_config().backups, target_time=None,
                 template=target, server_major_version=major) as recovered, recovered.connect() as conn:
        return [row[0] for row in conn.execute("SELECT note FROM pitr_probe ORDER BY note")]

APP = "analytics-ops:backup-test"
steps = json.loads(sys.argv[1])
results = []
for name, args in steps:
    if name in ("chain", "restore", "pitr_probe"):
        results.append(globals()[name](*args))
        continue
    kwargs = {"application_name": APP}
    if name in ("run_full_backup", "run_base_backup_if_due"):
        kwargs.update(dag_id="t", run_id="r")
    if name == "run_base_backup_if_due":
        args = [args[0], datetime.now(UTC)]
        kwargs["required"] = True
    if name == "run_retention":
        args = [datetime.now(UTC)]
    results.append(getattr(backup_jobs, name)(*args, **kwargs))
print("RESULT " + json.dumps(results, default=str))
"""


def as_worker(home: Path, steps: list) -> list:
    """Task bodies run in a process of their own, as on another host: its own working and temporary
    directories (readable by the drill's OS user), the same config, connections and destination."""
    import json
    import os

    home.mkdir(parents=True, exist_ok=True)
    (home / "tmp").mkdir(exist_ok=True)
    for path in (home.parent, home, home / "tmp"):
        path.chmod(0o755)
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [str(root / "scripts" / "with-env"), str(root / ".venv/bin/python"), "-c", WORKER_CODE, json.dumps(steps)],
        cwd=home,
        env={**os.environ, "TMPDIR": str(home / "tmp"), "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert not list((home / "tmp").iterdir()), "the worker left temporary files behind"
    return json.loads(done.stdout.rsplit("RESULT ", 1)[1])


def test_a_backup_taken_on_one_worker_is_verified_restored_and_expired_on_another_over_sftp(sftp_backups, some_data):
    """Worker 1 dumps, takes a base backup and fetches WAL to the SFTP server; its disk is then gone.
    Worker 2 verifies, restores tables, checks the WAL chain and recovers from the server alone;
    retention (on worker 2) deletes the expired backup there and keeps the newest verified one."""
    import shutil
    import tempfile

    from airflow.sdk import ObjectStoragePath

    db = some_data
    remote = sftp_backups
    db.execute("CREATE TABLE IF NOT EXISTS pitr_probe (note text PRIMARY KEY)")
    db.execute("TRUNCATE pitr_probe")
    hosts = Path(tempfile.mkdtemp(prefix="aops-hosts-", dir=os.environ["AOPS_STACK_DIR"]))
    try:
        worker_1, worker_2 = hosts / "worker-1", hosts / "worker-2"
        old, new, base = "full-20261001T030000Z", "full-20261123T030000Z", "base-20261123T000000Z"
        # One process per "host" run: each pays Airflow's import once.
        first = as_worker(
            worker_1,
            [
                ["run_full_backup", [old]],
                ["run_full_verification", [old]],
                ["run_full_backup", [new]],
                ["prepare_wal_slot", []],
                ["run_base_backup_if_due", [base]],
                ["run_wal_fetch", []],
            ],
        )
        assert first[2]["files"] > 0 and first[4]["taken"]
        db.execute("INSERT INTO pitr_probe VALUES ('committed after the base backup')")
        first_wal = as_worker(worker_1, [["run_wal_fetch", []]])[0]
        assert first_wal["chain"]["base_backup"] == base
        # Everything is on the server, nothing of worker 1 is left for worker 2 to find.
        assert (remote / "full" / new / "manifest.json").is_file()
        assert (remote / "base" / base / "manifest.json").is_file()
        assert first_wal["newest"] in {p.name for p in (remote / "wal").iterdir()}
        assert not (BACKUP_ROOT / "full").exists()
        shutil.rmtree(worker_1)
        locations = db.execute("SELECT location FROM ops.backups ORDER BY backup_id").fetchall()
        assert all(loc.startswith("sftp://") for (loc,) in locations), locations

        db.execute("UPDATE ops.backups SET started_at = started_at - interval '60 days' WHERE backup_id = %s", (old,))
        verified, restored, chain, notes, drill, retention = as_worker(
            worker_2,
            [
                ["run_full_verification", [new]],
                ["restore", [new]],
                ["chain", [base]],
                ["pitr_probe", [base]],
                ["run_restore_drill", []],
                ["run_retention", []],
            ],
        )
        assert verified["rows_compared"] > 0 and catalogue_row(db, new)[0]
        assert restored["rows"]["public.tasks"] == {"restored": 5000, "in_backup": 5000}
        assert chain["segments"] >= 1 and chain["newest"] == first_wal["newest"]
        assert notes == ["committed after the base backup"]  # WAL fetched by worker 1 replayed on worker 2
        assert drill["base_backup"] == base and catalogue_row(db, base)[0]

        assert retention["deleted_backups"] == [old]
        assert retention["kept"][new] == "newest verified full backup"
        assert not (remote / "full" / old).exists() and (remote / "full" / new / "manifest.json").is_file()
        assert db.execute("SELECT deleted_at IS NOT NULL FROM ops.backups WHERE backup_id = %s", (old,)).fetchone()[0]
        # What the test process sees through the same connection agrees with the server's disk.
        from analytics_ops.backups.storage import backup_path

        (location,) = db.execute("SELECT location FROM ops.backups WHERE backup_id = %s", (new,)).fetchone()
        assert isinstance(backup_path(location), ObjectStoragePath)
        assert {p.name for p in backup_path(location).iterdir()} == {p.name for p in (remote / "full" / new).iterdir()}
    finally:
        shutil.rmtree(hosts, ignore_errors=True)
