"""Weekly maintenance against the real primary: real bloat, failed reindexes, live writers, lock waits."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import psycopg
import pytest

from analytics_ops.core.config import MaintenanceSettings
from analytics_ops.core.db import connect
from analytics_ops.maintenance import vacuum_reindex as maintenance
from tests.conftest import admin_connect

SETTINGS = MaintenanceSettings(
    schemas=["public"],
    vacuum_tables=[],
    dead_tuple_pct=20,
    min_dead_tuples=1000,
    reindex_bloat_pct=30,
    min_index_bytes=0,
)


@pytest.fixture
def bloated(db):
    db.execute("DROP TABLE IF EXISTS bloat_t")
    db.execute("CREATE TABLE bloat_t (id bigint PRIMARY KEY, v text NOT NULL) WITH (autovacuum_enabled = false)")
    db.execute("INSERT INTO bloat_t SELECT g, md5(g::text) FROM generate_series(1, 200000) AS g")
    db.execute("CREATE INDEX bloat_t_v_idx ON bloat_t (v)")
    with db.transaction():
        db.execute("DELETE FROM bloat_t WHERE id % 10 <> 0")  # 90 % dead, spread over every index page
        deleted_by = db.execute("SELECT txid_current()").fetchone()[0]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        # Backends report table statistics about once a second; and with hot_standby_feedback the
        # replica's slot holds back what VACUUM may remove until its feedback passes the delete.
        dead = db.execute("SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = 'bloat_t'").fetchone()[0]
        held = db.execute(
            "SELECT count(*) FROM pg_replication_slots WHERE xmin IS NOT NULL AND xmin::text::bigint <= %s",
            (deleted_by,),
        ).fetchone()[0]
        if dead >= 170_000 and not held:
            break
        time.sleep(0.2)
    else:
        pytest.fail(f"bloat_t not ready after 60 s: {dead} dead tuples reported, {held} slot(s) holding them back")
    yield db
    db.execute("DROP TABLE IF EXISTS bloat_t")


def autocommit(**kwargs):
    return connect(autocommit=True, application_name="analytics-ops:maintenance-test", **kwargs)


class Writer(threading.Thread):
    """Production-like traffic on the table while maintenance runs; any error is kept."""

    def __init__(self) -> None:
        super().__init__()
        self.stop, self.errors, self.writes = threading.Event(), [], 0

    def run(self) -> None:
        with admin_connect("aops_test") as conn:
            n = 10_000_000
            while not self.stop.is_set():
                try:
                    conn.execute("INSERT INTO bloat_t VALUES (%s, md5(%s::text))", (n, n))
                    conn.execute("UPDATE bloat_t SET v = md5(v) WHERE id = %s", ((n % 200000) // 10 * 10 or 10,))
                    self.writes += 1
                    n += 1
                except Exception as exc:
                    self.errors.append(exc)
                time.sleep(0.002)


def test_vacuum_and_reindex_shrink_a_bloated_index_under_live_writes(bloated):
    with autocommit() as conn:
        assert "public.bloat_t" in maintenance.tables_to_vacuum(conn, SETTINGS)
        writer = Writer()
        writer.start()
        try:
            vacuumed = maintenance.vacuum_table(conn, "public.bloat_t")
            to_rebuild = maintenance.indexes_to_rebuild(conn, SETTINGS)
            rebuilt = [maintenance.reindex_index(conn, index) for index in to_rebuild if "bloat_t" in index]
        finally:
            writer.stop.set()
            writer.join()
        leftovers = maintenance.sweep_invalid_leftovers(conn)

    assert writer.errors == [] and writer.writes > 20
    assert vacuumed["dead_tuples_before"] >= 170_000 and vacuumed["dead_tuples_after"] < 1_000
    assert {r["index"] for r in rebuilt} == {"public.bloat_t_pkey", "public.bloat_t_v_idx"}
    for r in rebuilt:
        assert r["bytes_after"] < r["bytes_before"] / 3, r
    assert leftovers == []
    invalid = bloated.execute(
        "SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid "
        "WHERE c.relname = 'bloat_t' AND NOT i.indisvalid"
    ).fetchone()[0]
    assert invalid == 0


def test_a_reindex_that_fails_mid_way_leaves_an_invalid_index_the_sweep_removes(bloated):
    holder = admin_connect("aops_test")
    holder.autocommit = False
    holder.execute("SELECT count(*) FROM bloat_t")  # an open transaction using the table: the reindex waits
    failure: list[BaseException] = []

    def reindex() -> None:
        try:
            with autocommit(lock_timeout=timedelta(minutes=1)) as conn:
                maintenance.reindex_index(conn, "public.bloat_t_v_idx")
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=reindex)
    thread.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        waiting = bloated.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'analytics-ops:maintenance-test' "
            "AND query LIKE 'REINDEX INDEX CONCURRENTLY%' AND wait_event_type = 'Lock'"
        ).fetchone()[0]
        if waiting:  # blocked behind the open transaction, with its new index half-built
            break
        time.sleep(0.05)
    bloated.execute(
        "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query LIKE 'REINDEX INDEX CONCURRENTLY%' "
        "AND application_name = 'analytics-ops:maintenance-test'"
    )
    thread.join()
    holder.rollback()
    holder.close()
    assert failure and isinstance(failure[0], psycopg.errors.QueryCanceled)
    leftover = bloated.execute(
        "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE NOT i.indisvalid"
    ).fetchall()
    assert len(leftover) == 1 and leftover[0][0] in ("bloat_t_v_idx_ccnew", "bloat_t_v_idx_ccold"), leftover

    with autocommit() as conn:
        assert maintenance.sweep_invalid_leftovers(conn) == [f"public.{leftover[0][0]}"]
    assert bloated.execute("SELECT count(*) FROM pg_index WHERE NOT indisvalid").fetchone()[0] == 0


def test_maintenance_backs_off_on_lock_timeout_instead_of_blocking_others(bloated):
    holder = admin_connect("aops_test")
    holder.autocommit = False
    holder.execute("LOCK TABLE bloat_t IN SHARE ROW EXCLUSIVE MODE")  # e.g. a long migration
    try:
        started = time.monotonic()
        # The statement timeout only keeps a regression (the lock timeout not applied) from hanging
        # the test: it would end in QueryCanceled, not the LockNotAvailable expected here.
        with autocommit(lock_timeout=timedelta(milliseconds=500), statement_timeout=timedelta(seconds=60)) as conn:
            assert conn.execute("SHOW lock_timeout").fetchone()[0] == "500ms"  # the session's, not the default
            with pytest.raises(psycopg.errors.LockNotAvailable, match="canceling statement due to lock timeout"):
                maintenance.vacuum_table(conn, "public.bloat_t")
        waited = time.monotonic() - started
        # While maintenance waited, and after it gave up, readers were served.
        with admin_connect("aops_test") as reader:
            reader.execute("SET lock_timeout = '200ms'")
            assert reader.execute("SELECT count(*) FROM bloat_t").fetchone()[0] == 20000
    finally:
        holder.rollback()
        holder.close()
    # It waited for the lock for the whole lock_timeout, then gave up (the server's own timer: no
    # upper bound on a loaded machine's wall clock is needed, the statement timeout above is the cap).
    assert waited >= 0.5, waited


def test_deadlock_counter_counts_a_real_deadlock(db):
    db.execute("DROP TABLE IF EXISTS deadlock_t")
    db.execute("CREATE TABLE deadlock_t (id int PRIMARY KEY)")
    db.execute("INSERT INTO deadlock_t VALUES (1), (2)")
    with autocommit() as conn:
        before = maintenance.deadlocks(conn)
    first, second = admin_connect("aops_test"), admin_connect("aops_test")
    for conn in (first, second):
        conn.autocommit = False  # deadlock_timeout (1 s) is the server's: only a superuser may change it
    errors: list[BaseException] = []

    def lock_then(conn, then: int) -> None:
        try:
            conn.execute("SELECT * FROM deadlock_t WHERE id = %s FOR UPDATE", (then,))
        except psycopg.errors.DeadlockDetected as exc:
            errors.append(exc)
        finally:
            conn.rollback()

    try:
        first.execute("SELECT * FROM deadlock_t WHERE id = 1 FOR UPDATE")
        second.execute("SELECT * FROM deadlock_t WHERE id = 2 FOR UPDATE")
        threads = [threading.Thread(target=lock_then, args=(c, row)) for c, row in ((first, 2), (second, 1))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    finally:
        first.close()
        second.close()
        db.execute("DROP TABLE IF EXISTS deadlock_t")
    assert len(errors) == 1, errors  # Postgres broke the cycle by cancelling one of the two
    deadline = time.monotonic() + 15  # a backend reports its statistics within about a second
    with autocommit() as conn:
        while (counted := maintenance.deadlocks(conn)) == before and time.monotonic() < deadline:
            time.sleep(0.2)
            conn.execute("SELECT pg_stat_clear_snapshot()")
    assert counted == before + 1
