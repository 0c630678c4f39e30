"""Whole runs of the backup and restore DAGs with dag.test(), and the restore's param checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from analytics_ops.backups.catalog import BackupEntry
from analytics_ops.backups.restore import confirmation_phrase, plan_restore
from analytics_ops.core.params import ParamError
from tests.conftest import BACKUP_ROOT, PG_PASSWORD, TEST_DB, TEST_WAL_SLOT, admin_connect
from tests.dag_runs import test_run
from tests.test_maintenance_dags import parse, states

pytestmark = pytest.mark.airflow_run


def test_full_backup_dag_dumps_verifies_and_keeps_it(backups_under_test, some_data, capfd):
    db = some_data
    run = test_run(parse("analytics_backup_full"), logical_date=datetime(2026, 11, 20, 3, tzinfo=UTC))
    assert run.state == "success", states(run)
    row = db.execute(
        "SELECT backup_id, verified_at IS NOT NULL, manifest -> 'row_counts' ->> 'public.tasks', run_id "
        "FROM ops.backups WHERE kind = 'full'"
    ).fetchone()
    assert row == ("full-20261120T030000Z", True, "5000", run.run_id)
    out = capfd.readouterr()
    assert "kept full-20261120T030000Z: newest verified full backup" in out.out
    assert PG_PASSWORD not in out.out + out.err
    logged = db.execute(
        "SELECT task_id, subject FROM ops.run_log WHERE run_id = %s ORDER BY id", (run.run_id,)
    ).fetchall()
    assert logged == [
        ("dump_database", "full-20261120T030000Z"),
        ("verify_backup", "full-20261120T030000Z"),
        ("apply_retention", "retention"),
    ]

    # Re-running the same run replaces its backup and verifies it again: still one backup.
    db.execute("DELETE FROM tasks WHERE id > 4000")
    again = test_run(parse("analytics_backup_full"), logical_date=datetime(2026, 11, 20, 3, tzinfo=UTC))
    assert again.state == "success", states(again)
    rows = db.execute("SELECT manifest -> 'row_counts' ->> 'public.tasks' FROM ops.backups").fetchall()
    assert rows == [("4000",)]


def test_incremental_dag_takes_a_base_backup_then_an_incremental_one_on_17_or_only_wal(backups_under_test, capfd):
    db = backups_under_test
    first = test_run(parse("analytics_backup_incremental"), logical_date=datetime(2026, 11, 23, 0, tzinfo=UTC))
    assert first.state == "success", states(first)
    bases = db.execute(
        "SELECT backup_id, verified_at IS NOT NULL, verification ->> 'drill' FROM ops.backups"
    ).fetchall()
    assert len(bases) == 1 and bases[0][1] and "temporary cluster" in bases[0][2]
    assert (BACKUP_ROOT / "base" / bases[0][0] / "backup_manifest").is_file()

    db.execute("DROP TABLE IF EXISTS incr_probe")
    db.execute("CREATE TABLE incr_probe AS SELECT g AS id FROM generate_series(1, 1000) AS g")
    second = test_run(parse("analytics_backup_incremental"), logical_date=datetime(2026, 11, 23, 6, tzinfo=UTC))
    assert second.state == "success", states(second)
    out = capfd.readouterr().out
    db.execute("DROP TABLE incr_probe")
    major = int(db.execute("SHOW server_version_num").fetchone()[0]) // 10000
    if major < 17:  # the WAL alone carries the 6-hourly run
        assert db.execute("SELECT count(*) FROM ops.backups").fetchone()[0] == 1  # no second base backup
        assert "recent enough" in out and "drill': 'not needed" in out
        return
    # 17+: an incremental base backup on top of the base one, verified by pg_verifybackup and by a
    # drill that combines the chain (pg_combinebackup) and recovers it with the WAL after it.
    (base_id,) = bases[0][:1]
    incr = db.execute(
        "SELECT backup_id, verified_at IS NOT NULL, manifest, verification ->> 'drill' FROM ops.backups "
        "WHERE kind = 'incremental'"
    ).fetchall()
    assert len(incr) == 1, incr
    incr_id, verified, manifest, drill = incr[0]
    assert verified and manifest["parent"] == base_id and manifest["chain"] == [base_id, incr_id]
    assert f"pg_combinebackup of ['{base_id}', '{incr_id}']" in drill
    folder = BACKUP_ROOT / "base" / incr_id
    assert list(folder.rglob("INCREMENTAL.*")), "no block-level incremental files: not an incremental backup"
    base_bytes = sum(p.stat().st_size for p in (BACKUP_ROOT / "base" / base_id).rglob("*") if p.is_file())
    assert manifest["size_bytes"] < base_bytes / 2, (manifest["size_bytes"], base_bytes)


def catalogue(*entries: tuple[str, bool, dict]) -> list[BackupEntry]:
    now = datetime.now(UTC)
    return [
        BackupEntry(bid, "full", f"file:///b/{bid}", now - timedelta(days=i), now, now if ok else None, 1, manifest)
        for i, (bid, ok, manifest) in enumerate(entries)
    ]


COUNTS = {"row_counts": {"public.tasks": 10, "public.users": 2}}


ONE = catalogue(("full-a", True, COUNTS))
TWO = catalogue(("full-a", True, COUNTS), ("full-b", False, COUNTS))
OVERWRITE = {"tables": ["tasks"], "overwrite_production": True}


@pytest.mark.parametrize(
    ("params", "backups", "message"),
    [
        ({"tables": []}, ONE, "at least one table"),
        ({"tables": ["public.tasks; drop"]}, ONE, "is not a table name"),
        ({"tables": ["tasks"]}, [], "no verified full backup"),
        ({"tables": ["tasks"], "backup_id": "full-zzz"}, ONE, "no full backup 'full-zzz'"),
        ({"tables": ["tasks"], "backup_id": "full-b"}, TWO, "never verified"),
        ({"tables": ["public.nope"]}, ONE, "public.nope not in backup full-a"),
        ({"tables": ["tasks"], "target_database": "Prod-DB"}, ONE, "is not a database name"),
        ({"tables": ["tasks"], "target_database": "analytics"}, ONE, "is the production database"),
        (
            {"tables": ["tasks"], "target_database": "postgres"},
            ONE,
            "postgres is not one of this DAG's restore databases",
        ),
        ({"tables": ["tasks"], "target_database": "template1"}, ONE, "template1 is not one of this DAG's restore"),
        ({"tables": ["tasks"], "target_database": "airflow"}, ONE, "give a name starting with aops_restore_"),
        ({**OVERWRITE, "confirm": "yes"}, ONE, "type exactly: overwrite public.tasks in analytics from full-a"),
        ({**OVERWRITE, "target_database": "other"}, ONE, "leave target_database empty"),
    ],
)
def test_restore_params_are_refused_with_what_to_type(params, backups, message):
    with pytest.raises(ParamError, match=message):
        plan_restore(params, backups, "analytics", "aops_restore_")


def test_restore_plan_defaults_to_the_newest_verified_backup_and_a_separate_database():
    backups = catalogue(("full-new-unverified", False, COUNTS), ("full-b", True, COUNTS), ("full-a", True, COUNTS))
    plan = plan_restore({"tables": ["users", "public.tasks"]}, backups, "analytics", "aops_restore_")
    assert (plan.backup_id, plan.target_database, plan.tables) == (
        "full-b",
        "aops_restore_full_b",
        (("public", "tasks"), ("public", "users")),
    )
    phrase = confirmation_phrase(["public.users", "public.tasks"], "analytics", "full-b")
    assert phrase == "overwrite public.tasks, public.users in analytics from full-b"
    plan = plan_restore(
        {"tables": ["tasks", "users"], "overwrite_production": True, "confirm": phrase}, backups, "analytics", "p_"
    )
    assert plan.overwrite_production and plan.target_database == "analytics"


def restore_databases() -> set[str]:
    with admin_connect() as admin:
        return {row[0] for row in admin.execute("SELECT datname FROM pg_database WHERE datname LIKE 'aops_restore%'")}


def test_restore_dag_refuses_bad_params_before_anything_runs(backups_under_test, some_data):
    before = restore_databases()
    run = test_run(parse("analytics_restore"), run_conf={"tables": ["public.tasks"]})  # no backup yet
    found = states(run)
    assert found["check_params"] == ["failed"] and found["restore_tables"] == ["upstream_failed"]
    assert restore_databases() == before  # nothing was created


def test_restore_dag_into_a_separate_database_then_over_production_with_confirmation(backups_under_test, some_data):
    db = some_data
    backup = test_run(parse("analytics_backup_full"), logical_date=datetime(2026, 11, 21, 3, tzinfo=UTC))
    assert backup.state == "success", states(backup)
    db.execute("DELETE FROM tasks WHERE id > 4500")  # the accident

    run = test_run(parse("analytics_restore"), run_conf={"tables": ["public.tasks"]})
    assert run.state == "success", states(run)
    with admin_connect("aops_restore_full_20261121t030000z") as restored:
        assert restored.execute("SELECT count(*) FROM public.tasks").fetchone()[0] == 5000
    assert db.execute("SELECT count(*) FROM tasks").fetchone()[0] == 4500  # production untouched
    again = test_run(parse("analytics_restore"), run_conf={"tables": ["public.tasks"]})  # re-run replaces
    assert again.state == "success", states(again)

    refused = test_run(
        parse("analytics_restore"), run_conf={"tables": ["public.tasks"], "overwrite_production": True, "confirm": "y"}
    )
    assert states(refused)["check_params"] == ["failed"]
    assert db.execute("SELECT count(*) FROM tasks").fetchone()[0] == 4500

    phrase = confirmation_phrase(["public.tasks"], TEST_DB, "full-20261121T030000Z")
    confirmed = test_run(
        parse("analytics_restore"),
        run_conf={"tables": ["public.tasks"], "overwrite_production": True, "confirm": phrase},
    )
    assert confirmed.state == "success", states(confirmed)
    assert db.execute("SELECT count(*) FROM tasks").fetchone()[0] == 5000
    # The live table kept its definition: its primary key and the foreign key to users are there.
    assert (
        db.execute(
            "SELECT count(*) FROM pg_constraint WHERE conrelid = 'tasks'::regclass AND contype IN ('p', 'f')"
        ).fetchone()[0]
        == 2
    )


def test_overwriting_production_streams_the_backup_in_constant_memory(backups_under_test, some_data, tmp_path):
    """pg_restore's data script goes straight into psql: the worker never holds it."""
    import subprocess
    import tracemalloc

    from analytics_ops.backups.catalog import list_backups
    from analytics_ops.backups.pg_tools import client_env, find_binary, pg_target, server_major
    from analytics_ops.backups.restore import restore_tables
    from analytics_ops.backups.storage import backup_path, local_path
    from analytics_ops.core.config import load_config

    db = some_data
    db.execute(
        "INSERT INTO tasks (user_id, title, status, priority, created_at, updated_at) "
        "SELECT 1 + i % 200, repeat(md5(i::text), 8), 'todo', 'low', now(), now() FROM generate_series(1, 20000) i"
    )
    backup = test_run(parse("analytics_backup_full"), logical_date=datetime(2026, 11, 22, 3, tzinfo=UTC))
    assert backup.state == "success", states(backup)
    db.execute("DELETE FROM tasks WHERE id % 2 = 0")  # the accident

    config = load_config()
    target = pg_target(config.connections.primary)
    phrase = confirmation_phrase(["public.tasks"], TEST_DB, "full-20261122T030000Z")
    plan = plan_restore(
        {"tables": ["public.tasks"], "overwrite_production": True, "confirm": phrase},
        list_backups(db),
        TEST_DB,
        "aops_restore_",
    )
    # How big the data script is, measured apart: what holding it in memory would cost.
    script = tmp_path / "tasks.sql"
    with client_env(target) as env:
        pg_restore = find_binary("pg_restore", server_major(db), config.backups.pg_bin_dir)
        subprocess.run(
            [
                pg_restore,
                "--data-only",
                "--table=tasks",
                f"--file={script}",
                str(local_path(backup_path(plan.location))),
            ],
            env=env,
            check=True,
        )
    script_bytes = script.stat().st_size
    assert script_bytes > 5_000_000

    tracemalloc.start()
    try:
        result = restore_tables(
            plan, target, config.backups, lock_timeout=timedelta(seconds=5), application_name="analytics-ops:test"
        )
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert result["rows"]["public.tasks"] == {"restored": 25000, "in_backup": 25000}
    assert db.execute("SELECT count(*) FROM tasks").fetchone()[0] == 25000
    assert peak < script_bytes / 5, (
        f"restore peaked at {peak:,} bytes of Python memory for a {script_bytes:,}-byte script"
    )


def test_a_failed_overwrite_leaves_production_as_it_was(backups_under_test, some_data):
    """A lock held on the table (psql fails) or a backup file cut short (pg_restore fails half-way
    through its data): either way the TRUNCATE and any rows already loaded are rolled back."""
    from analytics_ops.backups.catalog import list_backups
    from analytics_ops.backups.pg_tools import PgToolError, pg_target
    from analytics_ops.backups.restore import restore_tables
    from analytics_ops.backups.storage import backup_path, local_path
    from analytics_ops.core.config import load_config

    db = some_data
    backup = test_run(parse("analytics_backup_full"), logical_date=datetime(2026, 11, 22, 3, tzinfo=UTC))
    assert backup.state == "success", states(backup)
    db.execute("DELETE FROM tasks WHERE id % 2 = 0")
    config = load_config()
    phrase = confirmation_phrase(["public.tasks"], TEST_DB, "full-20261122T030000Z")
    plan = plan_restore(
        {"tables": ["public.tasks"], "overwrite_production": True, "confirm": phrase}, list_backups(db), TEST_DB, "x_"
    )

    def overwrite() -> None:
        restore_tables(
            plan,
            pg_target(config.connections.primary),
            config.backups,
            lock_timeout=timedelta(milliseconds=300),
            application_name="analytics-ops:test",
        )

    with admin_connect(TEST_DB) as holder:
        holder.execute("BEGIN")
        holder.execute("LOCK TABLE tasks IN ACCESS SHARE MODE")
        with pytest.raises(PgToolError, match=r"\(psql\) and was rolled back.*lock timeout"):
            overwrite()
        holder.execute("ROLLBACK")
    assert db.execute("SELECT count(*) FROM tasks").fetchone()[0] == 2500

    folder = local_path(backup_path(plan.location))
    data = max(folder.glob("*.dat*"), key=lambda p: p.stat().st_size)
    data.write_bytes(data.read_bytes()[: data.stat().st_size // 2])
    with pytest.raises(PgToolError, match=r"\(pg_restore\) and was rolled back"):
        overwrite()
    assert db.execute("SELECT count(*) FROM tasks").fetchone()[0] == 2500


def test_pitr_dag_recovers_a_new_cluster_to_the_instant_asked_and_leaves_production_alone(
    backups_under_test, override_config
):
    """Runbook 001 Scenario 1: rows committed up to the target are in the recovered cluster, later
    ones are not; production keeps all of them; the cluster runs until the operator stops it."""
    import json
    import shutil
    import time
    import uuid
    from pathlib import Path

    import psycopg

    from analytics_ops.backups.jobs import run_wal_fetch

    db = backups_under_test
    top = Path(f"/var/tmp/aops-test-recovery-{uuid.uuid4().hex[:8]}")
    # Deep enough that a Unix socket inside the recovery folder would pass PostgreSQL's 107 bytes.
    root = top / "a-recovery-root-as-deep-as-a-real-deployments-may-well-be"
    override_config(
        {
            "backups": {"wal_slot": TEST_WAL_SLOT, "lock_wait_timeout": "2s", "recovery_root": str(root)},
            "dag_defaults": {"retries": 0},
        }
    )
    db.execute("DROP TABLE IF EXISTS pitr_marks")
    db.execute("CREATE TABLE pitr_marks (note text, at timestamptz DEFAULT clock_timestamp())")
    first = test_run(parse("analytics_backup_incremental"), logical_date=datetime(2026, 11, 23, 0, tzinfo=UTC))
    assert first.state == "success", states(first)
    try:
        db.execute("INSERT INTO pitr_marks (note) VALUES ('before')")
        time.sleep(1.1)
        target = db.execute("SELECT clock_timestamp()").fetchone()[0]
        time.sleep(1.1)
        db.execute("INSERT INTO pitr_marks (note) VALUES ('after')")
        run_wal_fetch(application_name="analytics-ops:test")

        refused = test_run(parse("analytics_pitr"), run_conf={"target_time": "2999-01-01T00:00:00Z"})
        assert states(refused) == {"check_params": ["failed"], "recover_to_point": ["upstream_failed"]}
        assert not root.exists()  # nothing built

        run = test_run(parse("analytics_pitr"), run_conf={"target_time": target.isoformat()})
        assert run.state == "success", states(run)
        report = db.execute(
            "SELECT details FROM ops.run_log WHERE run_id = %s AND task_id = 'recover_to_point'", (run.run_id,)
        ).fetchone()[0]
        report = report if isinstance(report, dict) else json.loads(report)
        assert report["running"] is True and report["data_directory"].startswith(str(root))
        recovered_to = datetime.fromisoformat(report["recovered_to_last_commit_at"])
        assert recovered_to <= target, report
        with psycopg.connect(
            host="127.0.0.1", port=report["port"], user=db.info.user, password=PG_PASSWORD, dbname=TEST_DB
        ) as recovered:
            assert recovered.execute("SELECT note FROM pitr_marks ORDER BY at").fetchall() == [("before",)]
            assert not recovered.execute("SELECT pg_is_in_recovery()").fetchone()[0]
        assert [r[0] for r in db.execute("SELECT note FROM pitr_marks ORDER BY at").fetchall()] == ["before", "after"]
        assert db.info.port != report["port"]
    finally:
        from analytics_ops.backups.pg_tools import find_binary, server_major
        from analytics_ops.backups.recovery import RecoveredCluster
        from analytics_ops.core.config import load_config

        settings = load_config().backups
        pg_ctl = find_binary("pg_ctl", server_major(db), settings.pg_bin_dir)
        for folder in root.glob("pitr-*"):  # what the report's stop_with says, as the operator would
            RecoveredCluster(folder, None, pg_ctl, settings.os_user).stop(remove=True)
        shutil.rmtree(top, ignore_errors=True)
        db.execute("DROP TABLE IF EXISTS pitr_marks")
