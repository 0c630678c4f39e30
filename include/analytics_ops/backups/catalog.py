"""The catalogue of backups (ops.backups) and the retention rule over it.

Retention keeps a recovery window of `backups.retention_days`, as Barman and pgBackRest define one:
every point in time of the last N days stays recoverable. An incremental base backup (PostgreSQL 17+)
keeps every backup of its chain. So besides every backup started within
the window it keeps the newest verified base backup that finished before the window began (the
only way to recover the window's first hours), and every WAL segment from the oldest base backup
kept onwards. Whatever the dates say, it never deletes:
- the newest verified full backup;
- the newest verified base (or incremental) backup (the newest restorable point is that backup replayed
  through all later WAL).
Unverified backups are never what protects the newest restorable point: a base backup without a
verified successor keeps its own WAL only while it is within the retention window.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from analytics_ops.backups.wal import segment_number, wal_segments


@dataclass(frozen=True)
class BackupEntry:
    backup_id: str
    kind: str
    location: str
    started_at: datetime
    finished_at: datetime | None
    verified_at: datetime | None
    size_bytes: int | None
    manifest: dict[str, Any]


@dataclass
class RetentionPlan:
    delete_backups: list[BackupEntry] = field(default_factory=list)
    delete_wal: list[str] = field(default_factory=list)
    kept: dict[str, str] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {
            "deleted_backups": [b.backup_id for b in self.delete_backups],
            "deleted_wal_segments": len(self.delete_wal),
            "first_deleted_wal": self.delete_wal[0] if self.delete_wal else None,
            "last_deleted_wal": self.delete_wal[-1] if self.delete_wal else None,
            "kept": self.kept,
        }


def record_started(conn: Any, *, backup_id: str, kind: str, location: str, dag_id: str, run_id: str) -> None:
    from analytics_ops.core.db import sql_file

    params = {"backup_id": backup_id, "kind": kind, "location": location, "dag_id": dag_id, "run_id": run_id}
    conn.execute(sql_file("backups/record_started"), params)
    conn.commit()


def record_finished(conn: Any, manifest: dict[str, Any]) -> None:
    from analytics_ops.core.db import sql_file

    conn.execute(
        sql_file("backups/record_finished"),
        {
            "backup_id": manifest["backup_id"],
            "size_bytes": manifest["size_bytes"],
            "server_version": manifest["server_version"],
            "manifest": json.dumps(manifest),
        },
    )
    conn.commit()


def record_verification(conn: Any, backup_id: str, *, passed: bool, details: dict[str, Any]) -> None:
    from analytics_ops.core.db import sql_file

    conn.execute(
        sql_file("backups/record_verification"),
        {"backup_id": backup_id, "passed": passed, "verification": json.dumps(details, default=str)},
    )
    conn.commit()


def list_backups(conn: Any) -> list[BackupEntry]:
    from analytics_ops.core.db import sql_file

    rows = conn.execute(sql_file("backups/list")).fetchall()
    conn.commit()
    return [BackupEntry(*row) for row in rows]


def newest_verified(backups: list[BackupEntry], kind: str) -> BackupEntry | None:
    verified = [b for b in backups if b.kind == kind and b.verified_at is not None]
    return max(verified, key=lambda b: b.started_at, default=None)


class BackupChainBroken(RuntimeError):
    """A backup of an incremental chain that a recovery needs is gone from the catalogue."""


def chain_tip(backups: list[BackupEntry], base: BackupEntry) -> BackupEntry:
    """The newest verified backup of `base`'s chain: `base` itself or an incremental on top of it."""
    members = [
        b
        for b in backups
        if b.verified_at is not None
        and (
            b.backup_id == base.backup_id
            or (b.kind == "incremental" and b.manifest.get("chain", [""])[0] == base.backup_id)
        )
    ]
    return max(members, key=lambda b: b.started_at)


def chain_of(backups: list[BackupEntry], backup: BackupEntry) -> list[BackupEntry]:
    """What pg_combinebackup needs to rebuild `backup`, oldest first: itself alone for a base backup."""
    if backup.kind != "incremental":
        return [backup]
    by_id = {b.backup_id: b for b in backups}
    missing = [backup_id for backup_id in backup.manifest["chain"] if backup_id not in by_id]
    if missing:
        raise BackupChainBroken(f"{backup.backup_id} needs {', '.join(missing)}, no longer in the catalogue")
    return [by_id[backup_id] for backup_id in backup.manifest["chain"]]


def plan_retention(
    backups: list[BackupEntry], wal_names: list[str], now: datetime, retention_days: int
) -> RetentionPlan:
    """What to delete (pure: the rule above, over the catalogue and the WAL folder's file names)."""
    plan = RetentionPlan()
    horizon = now - timedelta(days=retention_days)
    # The newest verified full backup, and the newest restorable point: the newest verified physical
    # backup (a base one, or on 17+ possibly an incremental one) replayed through all later WAL.
    physical = [b for b in backups if b.kind in ("base", "incremental") and b.verified_at is not None]
    newest = [newest_verified(backups, "full"), max(physical, key=lambda b: b.started_at, default=None)]
    protected = {b.backup_id: f"newest verified {b.kind} backup" for b in newest if b is not None}
    before_window = [
        b
        for b in backups
        if b.kind in ("base", "incremental")
        and b.verified_at is not None
        and b.finished_at is not None
        and b.finished_at <= horizon
    ]
    if before_window:
        window_base = max(before_window, key=lambda b: b.finished_at)
        protected.setdefault(window_base.backup_id, f"recovers the start of the {retention_days}-day window")
    for backup in sorted(backups, key=lambda b: b.started_at):
        if backup.backup_id in protected:
            plan.kept[backup.backup_id] = protected[backup.backup_id]
        elif backup.started_at >= horizon:
            plan.kept[backup.backup_id] = f"younger than {retention_days} days"
        else:
            plan.delete_backups.append(backup)
    # An incremental backup is only as good as its chain: every backup it was taken on top of stays.
    by_id = {b.backup_id: b for b in backups}
    for backup in sorted(backups, key=lambda b: b.started_at, reverse=True):
        if backup.kind == "incremental" and backup.backup_id in plan.kept:
            for ancestor in backup.manifest.get("chain", [])[:-1]:
                if ancestor in by_id and ancestor not in plan.kept:
                    plan.kept[ancestor] = f"in the chain of {backup.backup_id}"
                    plan.delete_backups.remove(by_id[ancestor])
    kept_bases = [
        b for b in backups if b.kind == "base" and b.backup_id in plan.kept and b.manifest.get("start_wal_file")
    ]
    if kept_bases:
        floor = min(segment_number(b.manifest["start_wal_file"]) for b in kept_bases)
        plan.delete_wal = [name for name in wal_segments(wal_names) if segment_number(name) < floor]
    return plan


def apply_retention(conn: Any, plan: RetentionPlan, root: Any) -> None:
    """Delete what the plan lists: files first, then the catalogue entry."""
    from analytics_ops.backups.storage import backup_path, remove_tree
    from analytics_ops.core.db import sql_file

    for backup in plan.delete_backups:
        remove_tree(backup_path(backup.location))
        conn.execute(sql_file("backups/record_deleted"), {"backup_id": backup.backup_id})
        conn.commit()
    wal = root / "wal"
    for name in plan.delete_wal:
        (wal / name).unlink()
