"""Retention keeps a recovery window: every instant of the last N days stays recoverable (pure logic)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from analytics_ops.backups.catalog import BackupEntry, plan_retention

NOW = datetime(2026, 12, 3, 12, tzinfo=UTC)
WINDOW_START = NOW - timedelta(days=30)


def seg(n: int) -> str:
    return f"00000001{n >> 8:08X}{n & 0xFF:08X}"


def base(backup_id: str, finished: datetime, first_segment: int, *, verified: bool = True) -> BackupEntry:
    return BackupEntry(
        backup_id, "base", f"file:///b/{backup_id}", finished - timedelta(minutes=30), finished,
        finished + timedelta(minutes=10) if verified else None, 1, {"start_wal_file": seg(first_segment)},
    )  # fmt: skip


WAL = [seg(n) for n in range(0x100, 0x400)]


def test_the_newest_base_backup_finished_before_the_window_and_its_wal_stay():
    backups = [
        base("b-40d", NOW - timedelta(days=40), 0x100),
        base("b-edge", WINDOW_START - timedelta(seconds=1), 0x200),  # finished one second before
        base("b-20d", NOW - timedelta(days=20), 0x300),
    ]
    plan = plan_retention(backups, WAL, NOW, 30)
    assert [b.backup_id for b in plan.delete_backups] == ["b-40d"]
    assert plan.kept["b-edge"] == "recovers the start of the 30-day window"
    # The window's first instant is b-edge + its WAL: every segment from b-edge's first is kept.
    assert plan.delete_wal == [seg(n) for n in range(0x100, 0x200)]


def test_a_base_backup_finished_exactly_at_the_window_start_is_the_one_kept():
    backups = [
        base("b-before", WINDOW_START - timedelta(days=2), 0x100),
        base("b-at-start", WINDOW_START, 0x200),
        base("b-20d", NOW - timedelta(days=20), 0x300),
    ]
    plan = plan_retention(backups, WAL, NOW, 30)
    assert [b.backup_id for b in plan.delete_backups] == ["b-before"]
    assert plan.kept["b-at-start"] == "recovers the start of the 30-day window"


def test_an_unverified_base_backup_cannot_hold_the_window():
    backups = [
        base("b-verified", NOW - timedelta(days=35), 0x100),
        base("b-unverified", NOW - timedelta(days=31), 0x200, verified=False),
        base("b-20d", NOW - timedelta(days=20), 0x300),
    ]
    plan = plan_retention(backups, WAL, NOW, 30)
    assert [b.backup_id for b in plan.delete_backups] == ["b-unverified"]
    assert plan.kept["b-verified"] == "recovers the start of the 30-day window"
    assert plan.delete_wal == []


def test_a_suite_younger_than_the_window_keeps_everything():
    backups = [base("b-10d", NOW - timedelta(days=10), 0x100), base("b-2d", NOW - timedelta(days=2), 0x200)]
    plan = plan_retention(backups, WAL, NOW, 30)
    assert plan.delete_backups == [] and plan.delete_wal == []


def incremental(backup_id: str, finished: datetime, chain: list[str], first_segment: int) -> BackupEntry:
    entry = base(backup_id, finished, first_segment)
    return BackupEntry(*[*vars(entry).values()][:1], "incremental", *[*vars(entry).values()][2:7], {
        "start_wal_file": seg(first_segment), "parent": chain[-2], "chain": chain,
    })  # fmt: skip


def test_an_incremental_backup_keeps_its_whole_chain():
    backups = [
        base("b-45d", NOW - timedelta(days=45), 0x100),
        incremental("i-44d", NOW - timedelta(days=44), ["b-45d", "i-44d"], 0x110),
        incremental("i-32d", NOW - timedelta(days=32), ["b-45d", "i-44d", "i-32d"], 0x180),
        base("b-20d", NOW - timedelta(days=20), 0x300),
    ]
    plan = plan_retention(backups, WAL, NOW, 30)
    # i-32d is the newest backup finished before the window: it and the chain it was taken on stay.
    assert plan.delete_backups == []
    assert plan.kept["i-32d"] == "recovers the start of the 30-day window"
    assert plan.kept["b-20d"] == "newest verified base backup"
    assert plan.kept["i-44d"] == plan.kept["b-45d"] == "in the chain of i-32d"
    assert plan.delete_wal == []  # from b-45d's start on: nothing before it exists


def test_incrementals_before_a_newer_window_start_go_with_their_base():
    backups = [
        base("b-60d", NOW - timedelta(days=60), 0x100),
        incremental("i-59d", NOW - timedelta(days=59), ["b-60d", "i-59d"], 0x110),
        base("b-35d", NOW - timedelta(days=35), 0x200),
        base("b-20d", NOW - timedelta(days=20), 0x300),
    ]
    plan = plan_retention(backups, WAL, NOW, 30)
    assert sorted(b.backup_id for b in plan.delete_backups) == ["b-60d", "i-59d"]
    assert plan.delete_wal == [seg(n) for n in range(0x100, 0x200)]
