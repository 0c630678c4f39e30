"""Random task rows made in Python, and daily_analytics computed from them in Python.

The expected values here are an independent implementation of the metric definitions in
dags/analytics_daily_aggregation.py: plain loops over rows, sharing nothing with the SQL.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

STATUSES = ("todo", "in_progress", "done", "cancelled")
PRIORITIES = ("low", "medium", "high", "urgent")
WEIGHTS = {"low": Decimal(1), "medium": Decimal(2), "high": Decimal(3), "urgent": Decimal(4)}
PENALTY = Decimal("0.5")


@dataclass
class Task:
    id: int
    user_id: int
    status: str
    priority: str
    created_at: datetime
    completed_at: datetime | None
    due_at: datetime | None
    deleted: bool


def midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def random_tasks(rng: random.Random, *, users: int, days: list[date], per_day: int, first_id: int = 1) -> list[Task]:
    """Tasks on the given days, with times chosen to sit on and around UTC midnight."""
    tasks = []
    task_id = first_id
    edge_offsets = [
        timedelta(0),
        timedelta(microseconds=1),
        timedelta(hours=23, minutes=59, seconds=59, microseconds=999999),
    ]
    for day in days:
        for n in range(per_day):
            offset = edge_offsets[n] if n < len(edge_offsets) else timedelta(seconds=rng.randrange(86400))
            created = midnight(day) + offset
            status = rng.choice(STATUSES)
            completed = None
            if status == "done":
                # Same instant, just before/after midnight, or days later.
                completed = created + rng.choice(
                    [timedelta(0), timedelta(hours=rng.randrange(30)), timedelta(days=rng.randrange(4))]
                )
            due = None
            if rng.random() < 0.7:
                due = created + rng.choice([timedelta(0), timedelta(hours=rng.randrange(1, 80))])
            tasks.append(
                Task(
                    id=task_id,
                    user_id=rng.randrange(1, users + 1),
                    status=status,
                    priority=rng.choice(PRIORITIES),
                    created_at=created,
                    completed_at=completed,
                    due_at=due,
                    deleted=rng.random() < 0.1,
                )
            )
            task_id += 1
    return tasks


def insert_tasks(db: Any, tasks: list[Task], users: int) -> None:
    with db.cursor() as cur:
        cur.execute(
            "INSERT INTO users (id, email, created_at) "
            "SELECT u, 'u' || u || '@example.test', '2020-01-01' FROM generate_series(1, %s) AS u "
            "ON CONFLICT DO NOTHING",
            (users,),
        )
        columns = "id, user_id, title, status, priority, created_at, completed_at, due_at, deleted, updated_at"
        with cur.copy(f"COPY tasks ({columns}) FROM STDIN") as copy:
            for t in tasks:
                updated = t.completed_at or t.created_at
                copy.write_row(
                    (t.id, t.user_id, f"t{t.id}", t.status, t.priority, t.created_at, t.completed_at, t.due_at)
                    + (t.deleted, updated)
                )


def _round2(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def expected_rows(tasks: list[Task], start: date, end: date) -> dict[tuple[date, int], dict[str, Any]]:
    """(day, user_id) -> the daily_analytics row the definitions call for."""
    rows: dict[tuple[date, int], dict[str, Any]] = defaultdict(
        lambda: {
            "tasks_created": 0,
            "tasks_completed": 0,
            "done_same_day": 0,
            "tasks_overdue": 0,
            **{f"priority_{p}": 0 for p in PRIORITIES},
            **{f"status_{s}": 0 for s in STATUSES},
            "weight": Decimal(0),
        }
    )

    def in_range(ts: datetime | None) -> date | None:
        if ts is None:
            return None
        day = ts.astimezone(UTC).date()
        return day if start <= day <= end else None

    for t in tasks:
        if t.deleted:
            continue
        if day := in_range(t.created_at):
            row = rows[(day, t.user_id)]
            row["tasks_created"] += 1
            row[f"priority_{t.priority}"] += 1
            row[f"status_{t.status}"] += 1
            if t.completed_at is not None and t.completed_at < midnight(day + timedelta(days=1)):
                row["done_same_day"] += 1
        if day := in_range(t.completed_at):
            row = rows[(day, t.user_id)]
            row["tasks_completed"] += 1
            row["weight"] += WEIGHTS[t.priority]
        if day := in_range(t.due_at):
            row = rows[(day, t.user_id)]
            if t.status != "cancelled" and (t.completed_at is None or t.completed_at > t.due_at):
                row["tasks_overdue"] += 1

    result = {}
    for key, row in rows.items():
        created = row.pop("tasks_created")
        done_same_day = row.pop("done_same_day")
        weight = row.pop("weight")
        result[key] = {
            "tasks_created": created,
            "completion_rate": _round2(Decimal(100) * done_same_day / created) if created else None,
            "productivity_score": _round2(max(Decimal(0), weight - PENALTY * row["tasks_overdue"])),
            **row,
        }
    return result


def actual_rows(db: Any, start: date, end: date) -> dict[tuple[date, int], dict[str, Any]]:
    from psycopg.rows import dict_row

    with db.cursor(row_factory=dict_row) as cur:
        cur.execute("SELECT * FROM daily_analytics WHERE date BETWEEN %s AND %s", (start, end))
        return {(r.pop("date"), r.pop("user_id")): r for r in cur.fetchall()}


def day_checksum(db: Any, start: date, end: date) -> str:
    """md5 over the rows of the range in key order: equal checksums mean identical contents."""
    with db.cursor() as cur:
        cur.execute(
            "SELECT md5(coalesce(string_agg(d::text, '|' ORDER BY d.date, d.user_id), '')) "
            "FROM daily_analytics AS d WHERE d.date BETWEEN %s AND %s",
            (start, end),
        )
        return cur.fetchone()[0]
