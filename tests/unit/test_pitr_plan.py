"""Which point-in-time recoveries are refused before anything is built (pure logic, no services)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from analytics_ops.backups.catalog import BackupEntry
from analytics_ops.backups.pitr import parse_target_time, plan_pitr
from analytics_ops.core.params import ParamError

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
COVERED = NOW - timedelta(hours=2)


def base(backup_id: str, finished: datetime, *, verified: bool = True, kind: str = "base") -> BackupEntry:
    return BackupEntry(
        backup_id, kind, f"file:///b/{backup_id}", finished - timedelta(minutes=5), finished,
        finished + timedelta(minutes=1) if verified else None, 1, {"start_wal_file": "000000010000000000000001"},
    )  # fmt: skip


BACKUPS = [
    base("base-old", NOW - timedelta(days=8)),
    base("base-new", NOW - timedelta(days=1)),
    base("base-unverified", NOW - timedelta(hours=5), verified=False),
    base("full-x", NOW - timedelta(hours=4), kind="full"),
]


def plan(target: object, backups=BACKUPS, covered=COVERED):
    return plan_pitr({"target_time": target}, backups, covered, NOW)


def test_the_newest_verified_base_backup_before_the_target_is_chosen():
    chosen = plan("2026-12-03T09:00:00Z")
    assert chosen.base_backup_id == "base-new"  # not the unverified one, not the full dump
    assert chosen.target_time == datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
    assert (chosen.window_start, chosen.window_end) == (NOW - timedelta(days=8), COVERED)
    assert plan("2026-11-27T12:00:00+01:00").base_backup_id == "base-old"
    # The window's edges are inside it.
    assert plan((NOW - timedelta(days=8)).isoformat()).base_backup_id == "base-old"
    assert plan(COVERED.isoformat()).target_time == COVERED


@pytest.mark.parametrize(
    ("target", "message"),
    [
        (None, "give the instant to recover to"),
        ("", "give the instant to recover to"),
        ("2026-12-03 09:00", "is not an instant with a time zone"),
        ("yesterday", "is not an instant with a time zone"),
        ("2026-02-30T09:00:00Z", "is not a real instant"),
        ("2026-12-03T13:00:00Z", "is in the future"),
        ("2026-11-20T00:00:00Z", "is before the oldest verified base backup; the recoverable window is 2026-11-25"),
        ("2026-12-03T10:30:00Z", "is after the newest WAL fetched; the recoverable window is"),
    ],
)
def test_a_target_outside_the_window_or_malformed_is_refused(target, message):
    with pytest.raises(ParamError, match=message):
        plan(target)


def test_nothing_to_recover_from_is_refused():
    with pytest.raises(ParamError, match="no verified base backup"):
        plan(
            "2026-12-03T09:00:00Z",
            backups=[b for b in BACKUPS if b.backup_id != "base-old" and "new" not in b.backup_id],
        )
    with pytest.raises(ParamError, match="no WAL has been fetched yet"):
        plan("2026-12-03T09:00:00Z", covered=None)


def test_offsets_are_kept():
    assert parse_target_time("2026-12-03T10:00:00+01:00") == datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
