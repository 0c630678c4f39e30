"""Monthly archival against the real primary: exact counts, killed mid-way, concurrent writers."""

from __future__ import annotations

import threading
import time
from datetime import date

import psycopg
import pytest

from analytics_ops.archival.archive import archive, default_cutoff, resolve_cutoff
from analytics_ops.core.config import ArchivalSettings
from analytics_ops.core.db import connect
from analytics_ops.core.params import ParamError
from tests.conftest import admin_connect

CUTOFF = date(2024, 1, 1)
SETTINGS = ArchivalSettings(batch_rows=500, max_batch_rows=2000, target_batch_seconds=0.05)
ROWS_SQL = (
    "INSERT INTO daily_analytics SELECT d::date, u, 3, 2, 66.67, 1, 1, 1, 1, 0, 1, 0, 2, 0, 5.5 "
    "FROM generate_series(%s::date, %s::date, interval '1 day') AS d, generate_series(%s::int, %s::int) AS u"
)
COLUMNS = (
    "date, user_id, tasks_created, tasks_completed, completion_rate, tasks_overdue, priority_low, priority_medium, "
    "priority_high, priority_urgent, status_todo, status_in_progress, status_done, status_cancelled, productivity_score"
)


def checksum(db, table: str, where: str = "true") -> str:
    return db.execute(
        f"SELECT md5(coalesce(string_agg(({COLUMNS})::text, '|' ORDER BY date, user_id), '')) "  # noqa: S608
        f"FROM {table} WHERE {where}"
    ).fetchone()[0]


@pytest.fixture
def history(empty_tasks):
    db = empty_tasks
    db.execute(ROWS_SQL, ("2023-07-01", "2024-02-29", 1, 40))  # 184 old days x 40 users, 60 recent days
    old = db.execute("SELECT count(*) FROM daily_analytics WHERE date < %s", (CUTOFF,)).fetchone()[0]
    return db, old, checksum(db, "daily_analytics", f"date < '{CUTOFF}'")


def run_archive(settings: ArchivalSettings = SETTINGS, app: str = "analytics-ops:archival-test", **kwargs):
    """The DAG's way: a connection, and a factory for the parallel workers' own connections."""

    def open_connection():
        return connect(application_name=app)

    with open_connection() as conn:
        return archive(conn, CUTOFF, settings, open_connection=open_connection, **kwargs)


def test_parallel_workers_split_the_days_and_every_old_row_moves_once(history):
    db, old, old_checksum = history
    seen: set[str] = set()

    def open_connection():
        conn = connect(application_name="analytics-ops:archival-test")
        seen.add(threading.current_thread().name)
        return conn

    with connect(application_name="analytics-ops:archival-test") as conn:
        report = archive(
            conn, CUTOFF, SETTINGS.model_copy(update={"parallel_workers": 3}), open_connection=open_connection
        )
    assert len(seen) == 2  # two more connections, each in its own thread, beside the caller's
    assert (report.qualified, report.moved, report.inserted, report.left_behind) == (old, old, old, 0)
    assert checksum(db, "daily_analytics_archive") == old_checksum


def test_every_old_row_moves_exactly_once(history):
    db, old, old_checksum = history
    report = run_archive()

    assert (report.qualified, report.moved, report.arrived, report.inserted, report.left_behind) == (
        old,
        old,
        old,
        old,
        0,
    )
    # Batched, never one big move: however fast or slow this machine is, the days per batch stay
    # within `max_batch_rows` (how long a batch took is the benchmarks' business, bench/).
    assert report.batches == len(report.batch_sizes) >= 5 and sum(report.batch_sizes) == old
    assert max(report.batch_sizes) <= SETTINGS.max_batch_rows
    assert checksum(db, "daily_analytics_archive") == old_checksum
    assert db.execute("SELECT count(*) FROM daily_analytics").fetchone()[0] == 60 * 40  # recent days stay
    assert "0 left behind" in report.summary()


def test_dry_run_counts_and_moves_nothing(history):
    db, old, _ = history
    report = run_archive(dry_run=True)
    assert report.qualified == old and report.moved == 0
    assert report.summary().startswith(f"dry run: {old} rows older than 2024-01-01 would move")
    assert db.execute("SELECT count(*) FROM daily_analytics_archive").fetchone()[0] == 0


@pytest.mark.parametrize("workers", [1, 2])
def test_killed_mid_way_then_rerun_ends_with_exact_counts(history, workers):
    db, old, old_checksum = history
    slow = ArchivalSettings(batch_rows=40, max_batch_rows=40, target_batch_seconds=10, parallel_workers=workers)
    failure: list[BaseException] = []

    def archive_slowly() -> None:
        try:
            run_archive(slow, app="analytics-ops:archival-victim")
        except BaseException as exc:  # the termination, asserted below
            failure.append(exc)

    worker = threading.Thread(target=archive_slowly)
    worker.start()
    deadline = time.monotonic() + 60
    while (archived := db.execute("SELECT count(*) FROM daily_analytics_archive").fetchone()[0]) < 500:
        assert worker.is_alive(), f"the archival ended before it was killed, {archived} rows archived: {failure}"
        assert time.monotonic() < deadline, f"the archival moved only {archived} rows in 60 s"
        time.sleep(0.01)
    with admin_connect() as admin:
        killed = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = 'analytics-ops:archival-victim'"
        ).fetchone()[0]
    worker.join()
    assert killed == workers and failure and isinstance(failure[0], psycopg.OperationalError)
    part = db.execute("SELECT count(*) FROM daily_analytics_archive").fetchone()[0]
    assert 0 < part < old
    # Mid-way, every row is in exactly one place.
    assert db.execute("SELECT count(*) FROM daily_analytics WHERE date < %s", (CUTOFF,)).fetchone()[0] == old - part

    report = run_archive()

    assert report.qualified == old - part and report.moved == old - part and report.left_behind == 0
    assert checksum(db, "daily_analytics_archive") == old_checksum


@pytest.mark.parametrize("workers", [1, 2])
def test_concurrent_inserts_during_archival_are_not_lost(history, workers):
    db, old, _ = history
    inserted = {"old": 0, "new": 0}

    def writer() -> None:
        deadline = time.monotonic() + 120  # a failed archival never gets half-way: stop regardless
        with admin_connect("aops_test") as conn:
            user = 1000
            # Writes until the archival is half-way, so they all land before its last pass.
            while conn.execute("SELECT count(*) FROM daily_analytics_archive").fetchone()[0] < old // 2:
                if time.monotonic() > deadline:
                    inserted["timed_out"] = 1
                    return
                conn.execute(ROWS_SQL, ("2023-08-01", "2023-08-01", user, user))  # behind the cursor
                conn.execute(ROWS_SQL, ("2024-02-01", "2024-02-01", user, user))
                inserted["old"] += 1
                inserted["new"] += 1
                user += 1
                time.sleep(0.001)

    thread = threading.Thread(target=writer)
    thread.start()
    slowish = ArchivalSettings(batch_rows=10, max_batch_rows=10, target_batch_seconds=10, parallel_workers=workers)
    try:
        report = run_archive(slowish)
    finally:
        thread.join()
    assert "timed_out" not in inserted, "the archival was not half-way after 120 s"
    assert inserted["old"] >= 3  # rows really were written while the archival ran
    assert report.left_behind == 0
    assert report.moved == old + inserted["old"] and report.arrived == report.moved
    assert db.execute("SELECT count(*) FROM daily_analytics_archive").fetchone()[0] == old + inserted["old"]
    assert db.execute("SELECT count(*) FROM daily_analytics").fetchone()[0] == 60 * 40 + inserted["new"]


def test_cutoff_defaults_and_validation():
    settings = ArchivalSettings()
    assert default_cutoff(date(2026, 11, 1), 2) == date(2024, 11, 1)
    assert default_cutoff(date(2028, 2, 29), 2) == date(2026, 2, 28)
    today = date(2026, 11, 23)
    assert resolve_cutoff(None, date(2026, 11, 1), settings, today) == date(2024, 11, 1)
    assert resolve_cutoff("2025-01-01", date(2026, 11, 1), settings, today) == date(2025, 1, 1)
    with pytest.raises(ParamError, match="younger than archival.min_retention_days"):
        resolve_cutoff("2026-10-01", date(2026, 11, 1), settings, today)
    with pytest.raises(ParamError, match="not a real calendar day"):
        resolve_cutoff("2025-02-30", date(2026, 11, 1), settings, today)


def test_a_day_archived_before_is_replaced_by_its_newer_rows(history):
    db, old, _ = history
    db.execute(
        f"INSERT INTO daily_analytics_archive ({COLUMNS}) "  # noqa: S608
        "VALUES ('2023-07-02', 3, 99, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)"
    )
    report = run_archive()
    assert (report.moved, report.inserted, report.replaced, report.left_behind) == (old, old - 1, 1, 0)
    assert report.arrived == old
    row = db.execute(
        "SELECT tasks_created FROM daily_analytics_archive WHERE date = '2023-07-02' AND user_id = 3"
    ).fetchone()
    assert row == (3,)  # the newer row won
