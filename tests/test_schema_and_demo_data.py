"""Migrations apply once and again; demo data is deterministic and fast to make."""

from __future__ import annotations

from datetime import date

from analytics_ops.core.db import connect
from analytics_ops.core.migrations import apply_migrations, migration_files
from analytics_ops.demo.data import DemoScale, load_demo_data

SMALL = DemoScale(users=50, days=30, tasks_per_day=40, seed=7, last_day=date(2025, 1, 31))


def tasks_checksum(db) -> str:
    return db.execute("SELECT md5(string_agg(t::text, '|' ORDER BY t.id)) FROM tasks AS t").fetchone()[0]


def test_every_migration_is_applied_once_and_reapplying_does_nothing(db):
    with connect() as conn:
        again = apply_migrations(conn)
    names = [p.name for p in migration_files()]
    assert again.applied == []
    assert again.already_applied == names
    assert again.changed_since_applied == []
    recorded = [r[0] for r in db.execute("SELECT name FROM ops.schema_migrations ORDER BY name")]
    assert recorded == names


def test_concurrent_refresh_prerequisites_exist_for_every_view(db):
    views = {r[0] for r in db.execute("SELECT matviewname FROM pg_matviews WHERE schemaname = 'public'")}
    assert views == {
        "user_task_stats",
        "user_priority_distribution",
        "user_status_distribution",
        "user_monthly_trends",
        "mv_txn_daily_agg",
    }
    with_unique = {
        r[0]
        for r in db.execute(
            "SELECT c.relname FROM pg_index AS i JOIN pg_class AS c ON c.oid = i.indrelid "
            "WHERE c.relkind = 'm' AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL"
        )
    }
    assert with_unique == views


def test_demo_data_is_deterministic(db):
    with connect() as conn:
        first = load_demo_data(conn, SMALL, force=True)
    checksum = tasks_checksum(db)
    with connect() as conn:
        skipped = load_demo_data(conn, SMALL)
        assert not skipped.loaded  # same dataset already there
        again = load_demo_data(conn, SMALL, force=True)

    assert first.loaded and again.loaded
    assert first.tasks == again.tasks == 30 * 40
    assert tasks_checksum(db) == checksum
    span = db.execute(
        "SELECT min(created_at AT TIME ZONE 'UTC')::date, max(created_at AT TIME ZONE 'UTC')::date FROM tasks"
    ).fetchone()
    assert span == (date(2025, 1, 2), date(2025, 1, 31))
    stats = db.execute(
        "SELECT count(DISTINCT user_id), count(*) FILTER (WHERE deleted), count(*) FILTER (WHERE status = 'done'), "
        "count(*) FILTER (WHERE completed_at IS NOT NULL AND status <> 'done') FROM tasks"
    ).fetchone()
    assert stats[0] > 20 and 0 < stats[1] < 100 and stats[2] > 400 and stats[3] == 0


def test_another_seed_gives_other_data(db):
    with connect() as conn:
        load_demo_data(conn, SMALL, force=True)
    checksum = tasks_checksum(db)
    with connect() as conn:
        load_demo_data(conn, DemoScale(50, 30, 40, 8, date(2025, 1, 31)))
    assert tasks_checksum(db) != checksum


def test_a_concurrent_index_migration_runs_outside_a_transaction_and_replaces_an_invalid_leftover(db, tmp_path):
    from analytics_ops.core.migrations import OUTSIDE_TRANSACTION

    name = "zz_test_concurrent_index.sql"
    db.execute("DROP TABLE IF EXISTS migration_probe")
    db.execute("CREATE TABLE migration_probe (k integer)")
    db.execute("INSERT INTO migration_probe SELECT i % 10 FROM generate_series(1, 1000) AS i")
    # A concurrent build that failed half-way (here: duplicates under UNIQUE) leaves an invalid index behind.
    try:
        db.execute("CREATE UNIQUE INDEX CONCURRENTLY migration_probe_k_idx ON migration_probe (k)")
    except Exception as exc:  # the failure is the arrangement
        assert "could not create unique index" in str(exc)
    valid = (
        "SELECT i.indisvalid, i.indisunique FROM pg_index AS i WHERE i.indexrelid = 'migration_probe_k_idx'::regclass"
    )
    assert db.execute(valid).fetchone() == (False, True)
    (tmp_path / name).write_text(
        f"{OUTSIDE_TRANSACTION}\n-- a comment\nCREATE INDEX CONCURRENTLY IF NOT EXISTS migration_probe_k_idx\n"
        "ON migration_probe (k);\n"
    )
    try:
        with connect() as conn:
            result = apply_migrations(conn, tmp_path)
            assert not conn.autocommit  # handed back as it came
            again = apply_migrations(conn, tmp_path)
        assert result.applied == [name] and again.already_applied == [name]
        assert db.execute(valid).fetchone() == (True, False)  # rebuilt, valid, as the migration says
    finally:
        db.execute("DELETE FROM ops.schema_migrations WHERE name = %s", (name,))
        db.execute("DROP TABLE migration_probe")
