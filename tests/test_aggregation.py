"""The aggregation SQL against the real primary, checked against a Python computation."""

from __future__ import annotations

import random
import threading
from datetime import date, datetime, timedelta

import pytest

from analytics_ops.aggregation.daily import DayRange, aggregate_days, quality_violations
from analytics_ops.core.config import load_config
from analytics_ops.core.db import connect
from tests.task_rows import Task, actual_rows, day_checksum, expected_rows, insert_tasks, random_tasks

SETTINGS = load_config().aggregation
DAYS = [date(2025, 3, 1), date(2025, 3, 2), date(2025, 3, 4), date(2025, 3, 5)]  # 3 March has no tasks
START, END = date(2025, 3, 1), date(2025, 3, 6)


@pytest.fixture
def tasks(empty_tasks):
    rows = random_tasks(random.Random(20250301), users=12, days=DAYS, per_day=150)
    insert_tasks(empty_tasks, rows, users=12)
    return rows


def aggregate(start: date, end: date):
    with connect() as conn:
        return aggregate_days(conn, DayRange(start, end), SETTINGS)


def test_matches_independent_computation(db, tasks):
    result = aggregate(START, END)

    expected = expected_rows(tasks, START, END)
    actual = actual_rows(db, START, END)
    assert result.rows_written == len(expected)
    assert set(actual) == set(expected)
    for key, row in expected.items():
        assert actual[key] == row, key
    # Every kind of case the generator made is really exercised.
    assert any(r["tasks_overdue"] for r in expected.values())
    assert any(r["completion_rate"] is None for r in expected.values())
    assert any(0 < r["completion_rate"] < 100 for r in expected.values() if r["completion_rate"] is not None)
    assert not [k for k in actual if k[0] == date(2025, 3, 3) and actual[k]["tasks_created"]]


def test_day_boundaries_are_utc_whatever_the_session_time_zone(db, empty_tasks):
    # The test database runs in Asia/Kolkata (UTC+05:30); these instants straddle UTC midnight.
    def task(task_id: int, created: str) -> Task:
        return Task(task_id, 1, "todo", "low", datetime.fromisoformat(created), None, None, False)

    insert_tasks(
        db,
        [
            task(1, "2025-06-01T00:00:00+00:00"),
            task(2, "2025-06-01T23:59:59.999999+00:00"),
            task(3, "2025-06-02T00:00:00+00:00"),
            task(4, "2025-06-02T05:00:00+05:30"),  # 23:30 UTC on 1 June
        ],
        users=1,
    )

    aggregate(date(2025, 5, 31), date(2025, 6, 2))

    created = {k[0]: v["tasks_created"] for k, v in actual_rows(db, date(2025, 5, 31), date(2025, 6, 2)).items()}
    assert created == {date(2025, 6, 1): 3, date(2025, 6, 2): 1}


def test_rerun_is_byte_identical_and_replaces_the_day(db, tasks):
    aggregate(START, END)
    before = day_checksum(db, START, END)
    db.execute("UPDATE daily_analytics SET tasks_created = tasks_created + 100 WHERE date = %s", (DAYS[0],))
    assert day_checksum(db, START, END) != before

    again = aggregate(START, END)

    assert day_checksum(db, START, END) == before
    assert again.rows_deleted == again.rows_written


def test_rerun_leaves_days_outside_the_range_alone(db, tasks):
    aggregate(START, END)
    outside = day_checksum(db, DAYS[1], DAYS[1])
    db.execute("DELETE FROM tasks WHERE created_at >= %s", (DAYS[2],))

    aggregate(DAYS[2], END)

    assert day_checksum(db, DAYS[1], DAYS[1]) == outside
    assert not actual_rows(db, DAYS[2], END) or all(
        r["tasks_created"] == 0 for r in actual_rows(db, DAYS[2], END).values()
    )


def test_backfill_range_matches_day_by_day(db, tasks):
    aggregate(START, END)
    whole = day_checksum(db, START, END)
    db.execute("TRUNCATE daily_analytics")
    day = START
    while day <= END:
        aggregate(day, day)
        day += timedelta(days=1)
    assert day_checksum(db, START, END) == whole


def test_concurrent_runs_of_the_same_day_both_succeed(db, tasks):
    aggregate(START, END)
    expected = day_checksum(db, START, END)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            aggregate(START, END)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert day_checksum(db, START, END) == expected


def test_quality_gate_passes_on_a_correct_write(tasks):
    aggregate(START, END)
    with connect() as conn:
        assert quality_violations(conn, DayRange(START, END)) == []


def test_quality_gate_names_day_check_and_count(db, tasks):
    aggregate(START, END)
    db.execute(
        "UPDATE daily_analytics SET completion_rate = 140 WHERE date = %s AND completion_rate IS NOT NULL", (DAYS[0],)
    )
    bad_rates = db.execute(
        "SELECT count(*) FROM daily_analytics WHERE date = %s AND completion_rate = 140", (DAYS[0],)
    ).fetchone()[0]
    db.execute("DELETE FROM daily_analytics WHERE date = %s", (DAYS[1],))
    db.execute(
        "UPDATE daily_analytics SET tasks_created = tasks_created + 3 "
        "WHERE (date, user_id) = (SELECT date, user_id FROM daily_analytics WHERE date = %s LIMIT 1)",
        (DAYS[2],),
    )

    with connect() as conn:
        found = {(v.day, v.check): v.offending for v in quality_violations(conn, DayRange(START, END))}

    assert found[(DAYS[0], "completion_rate_out_of_range")] == bad_rates > 0
    source_day1 = sum(1 for t in tasks if not t.deleted and t.created_at.date() == DAYS[1])
    assert found[(DAYS[1], "tasks_but_no_aggregate_rows")] >= source_day1 > 0
    assert found[(DAYS[1], "tasks_created_total_mismatch")] == source_day1
    assert found[(DAYS[2], "tasks_created_total_mismatch")] == 3
    assert not any(day == DAYS[3] for day, _ in found)
